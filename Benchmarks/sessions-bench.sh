#!/usr/bin/env bash
# `ccpod sessions --all --json` over 5,000 generated sessions (~1 GB): a cold run that
# fills the metadata cache, then a warm run. Prints wall time and max RSS of each.
# Usage: Benchmarks/sessions-bench.sh [sessions] [bytes-per-session]
set -euo pipefail
cd "$(dirname "$0")/.."
sessions=${1:-5000}
bytes=${2:-210000}

# Linked as make links it (the Swift runtime in, on Linux): what `make install` installs.
flags=$(scripts/link-flags.sh)
swift build -c release --product ccpod ${flags:+"$flags"} >&2
swift build -c release --product ccpod-session-fixtures ${flags:+"$flags"} >&2
bin=$(swift build -c release ${flags:+"$flags"} --show-bin-path)

work=$(mktemp -d "${TMPDIR:-/tmp}/ccpod-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/claude/projects"
echo "generating $sessions sessions of ~$bytes bytes in $work ..." >&2
"$bin/ccpod-session-fixtures" "$work/claude" "$sessions" "$bytes"
echo "data: $(du -sh "$work/claude" | cut -f1), $(find "$work/claude/projects" -name '*.jsonl' | wc -l) jsonl files" >&2
sync

run() {
  local label=$1
  /usr/bin/time -v env XDG_STATE_HOME="$work/state" "$bin/ccpod" sessions --all --json --claude-dir "$work/claude" \
    >"$work/out.json" 2>"$work/time.txt"
  local wall rss
  wall=$(grep 'Elapsed (wall clock)' "$work/time.txt" | awk '{print $NF}')
  rss=$(grep 'Maximum resident set size' "$work/time.txt" | awk '{print $NF}')
  printf '%-6s wall %s  max RSS %d MB  (%s sessions listed)\n' "$label" "$wall" $((rss / 1024)) \
    "$(grep -c '"id"' "$work/out.json")"
}
run cold
run warm
