#!/bin/sh
# The meshbridge executable in the image: the compiled CLI on the bundled Node.js runtime.
# The projector (and its --rebuild) runs with a 32 MiB young-generation semi-space: the fold allocates many short-lived
# objects, and the larger young generation cuts its CPU per event by ~10% (docs/projector.md).
# The gateway role runs with a 4 MiB young-generation semi-space: the default one, grown while the first snapshot is
# read, stays committed (idle RSS ~20 MiB higher), while 1 MiB made a push cost up to ~35% more CPU in collections
# (docs/gateway.md, "Start-up and memory": 4 MiB keeps most of the memory and most of the CPU).
# --expose-gc lets the gateway run one major collection after a full snapshot load is first served, returning the
# load's buffers (the snapshot's size again) at once instead of at V8's next major collection
# (services/xds-gateway/load-garbage.ts). The local stack, the tests and the benchmarks start the roles with the same
# flags (harness/role-node-flags.ts; a unit test keeps the two equal).
case "$1" in
  projector) exec node --max-semi-space-size=32 /opt/meshbridge/dist/bin/cli.js "$@" ;;
  gateway) exec node --max-semi-space-size=4 --expose-gc /opt/meshbridge/dist/bin/cli.js "$@" ;;
  *) exec node /opt/meshbridge/dist/bin/cli.js "$@" ;;
esac
