#!/bin/sh
# The meshbridge executable in the image: the compiled CLI on the bundled Node.js runtime.
# The gateway role runs with a 1 MiB young-generation semi-space: it allocates little short-lived garbage once its
# snapshot is loaded (responses are built once and shared), and the default young generation, grown while the first
# snapshot is read, stays committed: idle RSS ~14 MiB lower (docs/gateway.md, "Start-up and memory").
# --expose-gc lets the gateway run one major collection after a full snapshot load is first served, returning the
# load's buffers (the snapshot's size again) at once instead of at V8's next major collection
# (services/xds-gateway/load-garbage.ts). The benchmark (bench/gateway-vs-reference.ts) starts the gateway with the
# same flags.
case "$1" in
  gateway) exec node --max-semi-space-size=1 --expose-gc /opt/meshbridge/dist/bin/cli.js "$@" ;;
  *) exec node /opt/meshbridge/dist/bin/cli.js "$@" ;;
esac
