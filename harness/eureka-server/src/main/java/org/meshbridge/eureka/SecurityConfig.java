package org.meshbridge.eureka;

import org.springframework.beans.factory.annotation.Value;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.security.config.Customizer;
import org.springframework.security.config.annotation.web.builders.HttpSecurity;
import org.springframework.security.web.SecurityFilterChain;

/**
 * Open by default; with --meshbridge.basic-auth=true every request needs HTTP basic auth as the user given by
 * spring.security.user.name/password, as a secured production Eureka does. CSRF is off: Eureka clients POST and PUT.
 */
@Configuration
public class SecurityConfig {
  @Bean
  SecurityFilterChain eurekaSecurity(HttpSecurity http, @Value("${meshbridge.basic-auth:false}") boolean basicAuth) throws Exception {
    http.csrf((c) -> c.disable());
    if (basicAuth) {
      http.authorizeHttpRequests((a) -> a.anyRequest().authenticated()).httpBasic(Customizer.withDefaults());
    } else {
      http.authorizeHttpRequests((a) -> a.anyRequest().permitAll());
    }
    return http.build();
  }
}
