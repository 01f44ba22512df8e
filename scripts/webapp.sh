#!/bin/bash
# Builds the web app (web/app/dist) from its pinned npm packages
# (web/app/package-lock.json) with Debian's nodejs and npm: npm ci when the
# lockfile changed, then the bundle. Nothing is fetched at run time.
set -euo pipefail
cd "$(dirname "$0")/../web/app"
# npm trusts node's own CA list; a network that inspects TLS through a CA of
# its own (installed in the system's store) needs the system's list too.
if [ -z "${NODE_EXTRA_CA_CERTS:-}" ] && [ -f /etc/ssl/certs/ca-certificates.crt ]; then
  export NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
fi
stamp=node_modules/.tanfang-lock
if ! cmp -s package-lock.json "$stamp" 2>/dev/null; then
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json "$stamp"
fi
node build.mjs
