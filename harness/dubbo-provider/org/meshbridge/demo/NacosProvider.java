package org.meshbridge.demo;

import org.apache.dubbo.config.ApplicationConfig;
import org.apache.dubbo.config.ProtocolConfig;
import org.apache.dubbo.config.RegistryConfig;
import org.apache.dubbo.config.ServiceConfig;
import org.apache.dubbo.config.bootstrap.DubboBootstrap;

/**
 * The demo provider registering in Nacos through Dubbo's own Nacos registry (dubbo-registry-nacos, which uses the
 * Nacos Java client over gRPC), as production Dubbo does: register-mode "all" writes the interface-level service
 * (providers:&lt;interface&gt;:&lt;version&gt;:) and the application-level instance (service = application name).
 * Usage: NacosProvider <nacos host:port> <application> <host> <port> [username password]
 */
public class NacosProvider {
    public static void main(String[] args) throws Exception {
        String nacos = args[0], app = args[1], host = args[2];
        int port = Integer.parseInt(args[3]);

        ApplicationConfig application = new ApplicationConfig(app);
        application.setQosEnable(false);
        application.setRegisterMode("all");
        RegistryConfig registry = new RegistryConfig("nacos://" + nacos);
        if (args.length > 5) {
            registry.setUsername(args[4]);
            registry.setPassword(args[5]);
        }
        registry.setUseAsConfigCenter(false);
        registry.setUseAsMetadataCenter(false);
        ProtocolConfig protocol = new ProtocolConfig("dubbo", port);
        protocol.setHost(host);
        ServiceConfig<GreetingService> service = new ServiceConfig<>();
        service.setInterface(GreetingService.class);
        service.setRef(name -> "hello " + name);
        service.setVersion("1.0.0");

        DubboBootstrap.getInstance().application(application).registry(registry).protocol(protocol).service(service).start();
        System.out.println("MESHBRIDGE-DUBBO-PROVIDER-READY");
        System.out.flush();
        Thread.currentThread().join();
    }
}
