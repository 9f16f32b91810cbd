#!/usr/bin/env bash
# Release artifacts under dist/: the source tarball of a tag (what the Homebrew
# formula builds), a binary tarball for this machine (the Swift runtime linked
# in on Linux), and SHA256SUMS for both.
#
#   scripts/release.sh [TAG]        default: the tag at HEAD (vX.Y.Z)
set -euo pipefail
cd "$(dirname "$0")/.."
tag=${1:-$(git describe --tags --exact-match --match 'v[0-9]*' 2>/dev/null || true)}
if [ -z "$tag" ]; then
  echo "release: HEAD has no vX.Y.Z tag; tag it first (git tag -a v0.2.0 -m v0.2.0) or name one" >&2
  exit 64
fi
version=${tag#v}
mkdir -p dist
src="dist/ccpod-$version.tar.gz"
# The source tarball carries VERSION, so a build from it knows its version without git.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
git archive --format=tar --prefix="ccpod-$version/" "$tag" > "$tmp/src.tar"
mkdir -p "$tmp/ccpod-$version" && printf '%s\n' "$version" > "$tmp/ccpod-$version/VERSION"
tar -rf "$tmp/src.tar" -C "$tmp" "ccpod-$version/VERSION"
gzip -9n < "$tmp/src.tar" > "$src"

# The binary, built from that same source tree.
tar -xzf "$src" -C "$tmp"
( cd "$tmp/ccpod-$version" && if [ "$(uname -s)" = Linux ]; then scripts/static-build.sh; else swift build -c release --product ccpod; fi )
os=$(uname -s | tr '[:upper:]' '[:lower:]'); arch=$(uname -m)
bin="dist/ccpod-$version-$os-$arch.tar.gz"
stage="$tmp/stage/ccpod-$version"
mkdir -p "$stage"
cp "$tmp/ccpod-$version/.build/release/ccpod" "$stage/"
cp README.md "$stage/"
"$stage/ccpod" --generate-completion-script bash > "$stage/ccpod.bash"
"$stage/ccpod" --generate-completion-script zsh > "$stage/_ccpod"
"$stage/ccpod" --generate-completion-script fish > "$stage/ccpod.fish"
tar -czf "$bin" -C "$tmp/stage" "ccpod-$version"
( cd dist && sha256sum "$(basename "$src")" "$(basename "$bin")" > SHA256SUMS )
echo "release: $("$stage/ccpod" --version)"
cat dist/SHA256SUMS
