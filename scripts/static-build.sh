#!/usr/bin/env bash
# A ccpod binary that runs without a Swift toolchain: the Swift runtime and
# Foundation linked in (Linux; --static-swift-stdlib). FoundationNetworking (the
# RunPod API client) links libcurl, so its development package must be present
# to link, and the cost ledger (GRDB) links SQLite's (libsqlite3-dev); at run time
# the binary needs glibc, libcurl4 and libsqlite3, which Debian and Ubuntu images
# with curl have. On macOS the Swift runtime ships with the OS:
# a plain release build is already self-contained.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(uname -s)" != Linux ]; then
  exec swift build -c release --product ccpod
fi
if ! { ldconfig -p 2>/dev/null | grep -q 'libcurl\.so '; } && ! [ -e /usr/lib/x86_64-linux-gnu/libcurl.so ] && ! [ -e /usr/lib/aarch64-linux-gnu/libcurl.so ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libcurl4-openssl-dev
  else
    echo "static-build: libcurl's development files are missing (Debian/Ubuntu: apt-get install libcurl4-openssl-dev)" >&2
    exit 1
  fi
fi
if ! [ -e /usr/include/sqlite3.h ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libsqlite3-dev
  else
    echo "static-build: SQLite's development files are missing (Debian/Ubuntu: apt-get install libsqlite3-dev)" >&2
    exit 1
  fi
fi
swift build -c release --product ccpod --static-swift-stdlib
bin=.build/release/ccpod
echo "static-build: $bin ($(du -h "$bin" | cut -f1)); dynamic libraries it needs:" >&2
ldd "$bin" | awk '{print "  " $1}' >&2
