package org.meshbridge.demo;

import org.apache.dubbo.config.ApplicationConfig;
import org.apache.dubbo.config.ProtocolConfig;
import org.apache.dubbo.config.RegistryConfig;
import org.apache.dubbo.config.ServiceConfig;
import org.apache.dubbo.config.bootstrap.DubboBootstrap;

/**
 * A real Apache Dubbo 3 provider for meshbridge's tests: it registers itself in ZooKeeper exactly as production Dubbo
 * does (register-mode "all": interface-level URLs and an application-level instance).
 * Usage: Provider <zookeeper host:port> <registry group (ZooKeeper root)> <application> <host> <port>
 */
public class Provider {
    public static void main(String[] args) throws Exception {
        String zk = args[0], group = args[1], app = args[2], host = args[3];
        int port = Integer.parseInt(args[4]);

        ApplicationConfig application = new ApplicationConfig(app);
        application.setQosEnable(false);
        application.setRegisterMode("all");
        RegistryConfig registry = new RegistryConfig("zookeeper://" + zk);
        registry.setGroup(group);
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
