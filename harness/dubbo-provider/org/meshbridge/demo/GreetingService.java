package org.meshbridge.demo;

public interface GreetingService {
    String greet(String name);
}
