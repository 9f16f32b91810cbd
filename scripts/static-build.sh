#!/usr/bin/env bash
# A ccpod binary that runs without a Swift toolchain: the Swift runtime and
# Foundation linked in (Linux; --static-swift-stdlib). The cost ledger (GRDB) links
# SQLite, so its development package (libsqlite3-dev) must be present to link; at run
# time the binary needs glibc, libstdc++ and libsqlite3, and the curl program for the
# RunPod API (ccpod does not link libcurl). On macOS the Swift runtime ships with the OS:
# a plain release build is already self-contained.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(uname -s)" != Linux ]; then
  exec swift build -c release --product ccpod
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
