package org.meshbridge.eureka;

import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.cloud.netflix.eureka.server.EnableEurekaServer;

/**
 * A plain Eureka server. Everything test-specific (ports, peers, eviction and cache intervals) is passed on the command
 * line by harness/eureka.ts, so the same jar also runs with Eureka's production defaults.
 */
@SpringBootApplication
@EnableEurekaServer
public class EurekaServer {
  public static void main(String[] args) {
    SpringApplication.run(EurekaServer.class, args);
  }
}
