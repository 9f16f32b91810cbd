# ccpod pod-side deploy script. POSIX sh + coreutils + git.
# Sent with every call as the `sh -c` script (base64 in the command line), so
# stdin stays free for the git bundle.
#
# Usage: sh -c "$SCRIPT" ccpod-deploy MODE ARGS...
#   deploy ROOT WORKSPACE PERSIST DIR TAG COMMIT RECORD_B64
#          stdin: a bundle holding refs/tags/TAG. Builds WORKSPACE/runs/DIR in a
#          temporary folder beside it (code/ checked out at TAG, detached, plus
#          artifacts/ logs/ checkpoints/ results/) and renames it into place;
#          writes RECORD (JSON, one line) to PERSIST/runs/DIR.json.
#   update ROOT WORKSPACE PERSIST DIR TAG COMMIT RECORD_B64 BASE
#          stdin: a bundle of TAG whose prerequisite is BASE (may be empty).
#          Fast-forwards WORKSPACE/runs/DIR/code to TAG; rewrites the record.
#   records ROOT WORKSPACE PERSIST
#          the registry: `J <json>` per run, then `E <dir>` when its folder exists.
#   list ROOT WORKSPACE PERSIST CLAUDE
#          records plus `K <dir> <kilobytes>`, `T <session> <pane path>` per tmux
#          pane, `P <slug> <number of .jsonl files>` per Claude project folder.
# ROOT is prepended to every path ("" on a real pod, the folder of a local: pod).
# Exit status: 0 done, 10 no git, 12 the pod lacks the bundle's prerequisite,
# 13 the run exists / does not exist, 14 not a fast-forward or local changes in
# the way, 1 anything else; the reason is on stderr after `ccpod-deploy: `.
# While it works, `ccpod-alive` goes to stderr every 5 s (ccpod takes silence for
# a stalled pod).
# shellcheck shell=sh

export LC_ALL=C
umask 077

die() { # status message
    printf 'ccpod-deploy: %s\n' "$2" >&2
    exit "$1"
}

# git's own last words, for the reason of a failure.
git_said() {
    [ -s "$1" ] && printf ' (git: %s)' "$(tail -n 3 "$1" | tr '\n' ' ')"
}

need_git() {
    command -v git > /dev/null 2>&1 || die 10 "git is not installed on the pod; install it (apt-get install -y git) and deploy again"
}

write_record() { # record_b64 dest: written beside dest, renamed by the caller
    printf '%s' "$1" | base64 -d > "$2.tmp" || return 1
    [ -s "$2.tmp" ]
}

emit_records() { # runs reg
    for f in "$2"/*.json; do
        [ -f "$f" ] || continue
        d=${f##*/}
        d=${d%.json}
        printf 'J\t%s\n' "$(tr -d '\n' < "$f")"
        [ -d "$1/$d" ] && printf 'E\t%s\n' "$d"
    done
    return 0
}

# The keepalive ticker; its sleep holds none of the pipes, so the output ends as
# soon as the script does.
keepalive() {
    while sleep 5 2>/dev/null; do
        printf 'ccpod-alive\n' >&2 || exit 0
    done
}
keepalive </dev/null >/dev/null &
ticker=$!
stop_keepalive() {
    kill "$ticker" 2>/dev/null
}
trap 'stop_keepalive' EXIT

mode=$1
shift
case "$mode" in
deploy|update)
    root=$1 ws=$2 persist=$3 dir=$4 tag=$5 commit=$6 record=$7 base=${8:-}
    case "$dir" in ''|.*|*/*) die 1 "bad run folder name" ;; esac
    need_git
    runs=$root$ws/runs
    reg=$root$persist/runs
    mkdir -p "$runs" "$reg" || die 1 "cannot create $ws/runs or $persist/runs on the pod"
    tmp=$(mktemp -d "$runs/.ccpod-deploy.XXXXXX") || die 1 "cannot create a temporary folder in $ws/runs"
    trap 'rm -rf "$tmp"; rm -f "$reg/$dir.json.tmp"; stop_keepalive' EXIT
    trap 'exit 130' HUP INT TERM
    cat > "$tmp/bundle" || die 1 "cannot store the bundle on the pod"
    if [ "$mode" = deploy ]; then
        [ -e "$runs/$dir" ] && die 13 "$ws/runs/$dir already exists on the pod"
        git -c init.defaultBranch=main init -q "$tmp/code" 2> "$tmp/err" || die 1 "git init failed$(git_said "$tmp/err")"
        cd "$tmp/code" || die 1 "cannot enter $tmp/code"
        git fetch -q "$tmp/bundle" "refs/tags/$tag:refs/tags/$tag" 2> "$tmp/err" \
            || die 1 "cannot read the bundle$(git_said "$tmp/err")"
        git -c advice.detachedHead=false checkout -q --detach "refs/tags/$tag" 2> "$tmp/err" \
            || die 1 "cannot check out $tag$(git_said "$tmp/err")"
        [ "$(git rev-parse HEAD)" = "$commit" ] || die 1 "the checkout is not at $commit"
        cd "$tmp" || die 1 "cannot enter $tmp"
        rm -f bundle err
        mkdir artifacts logs checkpoints results || die 1 "cannot create the run's folders"
        write_record "$record" "$reg/$dir.json" || die 1 "cannot write the run's record in $persist/runs"
        [ -e "$runs/$dir" ] && die 13 "$ws/runs/$dir already exists on the pod"
        chmod 700 "$tmp"
        mv "$tmp" "$runs/$dir" || die 1 "cannot move the run into $ws/runs/$dir"
        trap 'stop_keepalive' EXIT
        mv "$reg/$dir.json.tmp" "$reg/$dir.json" || die 1 "cannot write the run's record in $persist/runs"
    else
        code=$runs/$dir/code
        [ -d "$code/.git" ] || die 13 "there is no run $dir on the pod ($ws/runs/$dir/code is not a git clone)"
        cd "$code" || die 1 "cannot enter $code"
        if [ -n "$base" ] && ! git cat-file -e "$base^{commit}" 2> /dev/null; then
            die 12 "the run's clone lacks $base"
        fi
        git fetch -q "$tmp/bundle" "refs/tags/$tag:refs/tags/$tag" 2> "$tmp/err" || {
            grep -qi 'prerequisite\|lacks these' "$tmp/err" && die 12 "the run's clone lacks the bundle's base"
            die 1 "cannot read the bundle$(git_said "$tmp/err")"
        }
        if ! git merge-base --is-ancestor HEAD "$commit" 2> /dev/null; then
            git tag -d "$tag" > /dev/null 2>&1
            die 14 "the run's code is at $(git rev-parse --short HEAD), which $tag does not contain: not a fast-forward; deploy a new run instead"
        fi
        git -c advice.detachedHead=false checkout -q --detach "$commit" 2> "$tmp/err" || {
            git tag -d "$tag" > /dev/null 2>&1
            die 14 "changes made on the pod in $ws/runs/$dir/code are in the way$(git_said "$tmp/err"); commit or stash them there first"
        }
        mkdir -p "$runs/$dir/artifacts" "$runs/$dir/logs" "$runs/$dir/checkpoints" "$runs/$dir/results"
        write_record "$record" "$reg/$dir.json" || die 1 "cannot write the run's record in $persist/runs"
        mv "$reg/$dir.json.tmp" "$reg/$dir.json" || die 1 "cannot write the run's record in $persist/runs"
    fi
    printf 'OK\t%s\t%s\n' "$ws/runs/$dir" "$commit"
    ;;
records)
    emit_records "$1$2/runs" "$1$3/runs"
    ;;
list)
    runs=$1$2/runs reg=$1$3/runs claude=$1$4
    emit_records "$runs" "$reg"
    for f in "$reg"/*.json; do
        [ -f "$f" ] || continue
        d=${f##*/}
        d=${d%.json}
        [ -d "$runs/$d" ] || continue
        kb=$(du -sk "$runs/$d" 2> /dev/null | cut -f1)
        printf 'K\t%s\t%s\n' "$d" "${kb:-0}"
    done
    if command -v tmux > /dev/null 2>&1; then
        # tmux turns a TAB in -F output into `_` under LC_ALL=C: a printable separator.
        tmux list-panes -a -F '#{session_name}@@ccpod@@#{pane_current_path}' 2> /dev/null | while IFS= read -r line; do
            printf 'T\t%s\t%s\n' "${line%%@@ccpod@@*}" "${line#*@@ccpod@@}"
        done
    fi
    for d in "$claude"/projects/*/; do
        [ -d "$d" ] || continue
        n=$(find "$d" -maxdepth 1 -type f -name '*.jsonl' | wc -l | tr -d ' ')
        s=${d%/}
        printf 'P\t%s\t%s\n' "${s##*/}" "$n"
    done
    ;;
*)
    die 1 "unknown mode $mode"
    ;;
esac
