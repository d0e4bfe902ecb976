#!/bin/sh
# istiod serves /debug/* (configz, registryz, …) only to loopback clients or authenticated proxies: a request that
# reaches its monitoring port through a published port comes from the bridge and gets 401. socat forwards :15015 to
# the loopback monitoring port, so the port docker-compose.yml publishes (on the host's 127.0.0.1 only) reads
# /debug/configz as a local install does. istiod itself is the container's main process.
socat -lf /dev/null TCP-LISTEN:15015,fork,reuseaddr TCP:127.0.0.1:15014 &
exec pilot-discovery "$@"
