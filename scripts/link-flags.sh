#!/bin/sh
# The link flags of ccpod's release builds (make, make install, Benchmarks/run).
#
# On Linux: --static-swift-stdlib, the Swift runtime and Foundation linked into the
# binary. Every ccpod command (and every hook Claude Code runs) then starts with a
# handful of libraries to load instead of thirty: `ccpod --version` takes 12 ms
# instead of 19 on a 2-core VM (`perf stat -r 30`), and the binary runs without the
# toolchain's libraries. FoundationNetworking links libcurl, so this needs libcurl's
# development files; without them the flags are empty (the runtime stays shared)
# and a note says so. macOS ships the Swift runtime: no flags.
set -eu
[ "$(uname -s)" = Linux ] || exit 0
for lib in /usr/lib/x86_64-linux-gnu/libcurl.so /usr/lib/aarch64-linux-gnu/libcurl.so /usr/lib64/libcurl.so /usr/lib/libcurl.so; do
    if [ -e "$lib" ]; then
        echo --static-swift-stdlib
        exit 0
    fi
done
echo "note: libcurl's development files are missing (Debian/Ubuntu: apt-get install libcurl4-openssl-dev):" \
    "building with the Swift runtime shared, which starts each command a few milliseconds slower" >&2
