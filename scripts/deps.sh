#!/bin/bash
# Installs what tanfang needs to build, test and run, from Debian 12 packages.
# Idempotent; run as root. Skips apt-get when everything is already there.
set -euo pipefail
packages=(
  gcc meson ninja-build pkg-config
  libzmq3-dev liblmdb-dev libprotobuf-c-dev protobuf-c-compiler libsodium-dev
  libinih-dev libjansson-dev libcurl4-openssl-dev libcsv-dev libutf8proc-dev libmicrohttpd-dev
  libxlsxwriter-dev  # .xlsx exports (issue 11, item 5)
  help2man unzip     # man pages from each program's --help; the export test opens the .xlsx
  # the office's workbooks (issue 11): .xlsx (libzip, expat), .xls (FreeXL)
  libzip-dev libexpat1-dev libfreexl-dev
  tzdata lmdb-utils procps ca-certificates openssl
  # the test suite's independent client and HTTP receiver
  python3 python3-zmq python3-nacl python3-protobuf protobuf-compiler
  # the import tests' .xlsx and .xls files, made in the suite
  python3-openpyxl python3-xlwt
  # the fuzz run (tests/fuzz.sh): clang and its libFuzzer and sanitizer
  # runtimes, which clang only recommends
  clang libclang-rt-14-dev
  # the web app's browser test: Debian's chromium, driven by playwright-core
  chromium
)
# The web app is built with Debian's nodejs and npm (scripts/webapp.sh). A
# machine that already has node and npm (another packaging of them) keeps
# them: Debian's npm would conflict with it.
command -v node >/dev/null 2>&1 || packages+=(nodejs)
command -v npm >/dev/null 2>&1 || packages+=(npm)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "deps.sh: missing packages: ${missing[*]}; run as root (or sudo)" >&2
    exit 1
  fi
  echo "deps.sh: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
