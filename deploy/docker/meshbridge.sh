#!/bin/sh
# The meshbridge executable in the image: the compiled CLI on the bundled Node.js runtime.
exec node /opt/meshbridge/dist/bin/cli.js "$@"
