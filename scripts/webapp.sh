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
# Exit status: 0 built; 3 the npm registry could not be reached (network,
# name lookup, or a TLS certificate this machine does not trust); 1 anything
# else (a build that fails is a failure).
stamp=node_modules/.tanfang-lock
if ! cmp -s package-lock.json "$stamp" 2>/dev/null; then
  log=$(mktemp)
  if ! npm ci --no-audit --no-fund --loglevel=error >"$log" 2>&1; then
    cat "$log" >&2
    if grep -qE 'ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|CERT|SELF_SIGNED|UNABLE_TO|network' "$log"; then
      rm -f "$log"
      echo "webapp.sh: the npm registry cannot be reached from here" >&2
      exit 3
    fi
    rm -f "$log"
    exit 1
  fi
  rm -f "$log"
  cp package-lock.json "$stamp"
fi
node build.mjs
