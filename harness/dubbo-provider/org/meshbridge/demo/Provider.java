package org.meshbridge.demo;

import org.apache.dubbo.config.ApplicationConfig;
import org.apache.dubbo.config.ProtocolConfig;
import org.apache.dubbo.config.RegistryConfig;
import org.apache.dubbo.config.ServiceConfig;
import org.apache.dubbo.config.bootstrap.DubboBootstrap;

/**
 * A real Apache Dubbo provider for meshbridge's tests: it registers itself in ZooKeeper exactly as production Dubbo
 * does. Dubbo 3 with register-mode "all" (interface-level URLs and an application-level instance); Dubbo 2.7 has no
 * register mode and registers interface-level URLs only, so the same source builds against both lines.
 * Usage: Provider <zookeeper host:port> <registry group (ZooKeeper root)> <application> <host> <port>
 */
public class Provider {
    public static void main(String[] args) throws Exception {
        String zk = args[0], group = args[1], app = args[2], host = args[3];
        int port = Integer.parseInt(args[4]);

        ApplicationConfig application = new ApplicationConfig(app);
        application.setQosEnable(false);
        setRegisterModeAll(application);
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

    /** ApplicationConfig.setRegisterMode exists from Dubbo 3.0 on; 2.7 registers interface-level URLs only. */
    private static void setRegisterModeAll(ApplicationConfig application) throws Exception {
        java.lang.reflect.Method m;
        try {
            m = ApplicationConfig.class.getMethod("setRegisterMode", String.class);
        } catch (NoSuchMethodException dubbo27) {
            return;
        }
        m.invoke(application, "all");
    }
}
