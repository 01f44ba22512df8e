#!/bin/bash
# Builds the web app (web/app/dist) from its pinned npm packages
# (web/app/package-lock.json) with Debian's nodejs and npm: npm ci when the
# lockfile changed, then the bundle. Nothing is fetched at run time.
set -euo pipefail
cd "$(dirname "$0")/../web/app"
stamp=node_modules/.tanfang-lock
if ! cmp -s package-lock.json "$stamp" 2>/dev/null; then
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json "$stamp"
fi
node build.mjs
