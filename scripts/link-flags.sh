#!/bin/sh
# The link flags of ccpod's release builds (make, make install, Benchmarks/run).
#
# On Linux: --static-swift-stdlib, the Swift runtime and Foundation linked into the
# binary. Every ccpod command (and every hook Claude Code runs) then starts with a
# handful of libraries to load (glibc, libstdc++, libsqlite3) instead of thirty, and
# the binary runs without the toolchain's libraries. ccpod does not link
# FoundationNetworking (libcurl and the libraries behind it): the RunPod API is
# reached through the curl program (CurlTransport). `ccpod --version` takes 4.8 ms
# (`perf stat -r 40` on a 2-core VM; 11.5 ms while libcurl was linked, 19 ms with the
# runtime shared). macOS ships the Swift runtime: no flags.
set -eu
[ "$(uname -s)" = Linux ] || exit 0
echo --static-swift-stdlib
