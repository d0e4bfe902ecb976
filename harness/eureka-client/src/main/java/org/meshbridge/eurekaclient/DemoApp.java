package org.meshbridge.eurekaclient;

import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.RestController;

/**
 * A Spring Boot web app with the Eureka client on its classpath: it registers itself on start and cancels its
 * registration on a graceful stop, as any Spring Cloud Netflix service does. Name, port and Eureka URLs come from the
 * command line (harness/eureka.ts).
 */
@SpringBootApplication
@RestController
public class DemoApp {
  public static void main(String[] args) {
    SpringApplication.run(DemoApp.class, args);
  }

  @GetMapping("/hello")
  public String hello() {
    return "hello from meshbridge's Eureka demo app";
  }
}
