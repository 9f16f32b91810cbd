# ccpod pod-side agent. POSIX sh + GNU coreutils + find; zstd or gzip when present.
# Sent with every call as the `sh -c` script; stdin and stdout carry the exchange.
#
# Usage: sh -c "$AGENT" ccpod-agent PROTOCOL REQUEST_COMPRESSION
#
# Request (stdin, after optional decompression): text records, fields separated
# by TAB, the path always last; a record announcing N bytes is followed by
# exactly N raw bytes.
#   CCPOD-REQ <protocol>
#   O <key> <value>                 options: root, claude, state, mode, busy, accept
#   S <dir>                         a scope folder (relative to the Claude dir)
#   I <sessionId>                   a session whose per-session folders are in scope
#   K <seenSize> <seenMtime> <ancSize> <ancHash> <op> <len> <sha256> <path>
#                                   a file ccpod knows; ops: C check, A append,
#                                   P put new, R replace, D delete; len bytes follow
#   END
# Response (stdout): one plain line `CCPOD-AGENT <protocol> <compression>`, then
# (compressed) records:
#   S <state> <size> <mtime> <lines> <sha256> <path>   a file's state on the pod
#   D <offset> <len> <sha256> <path>                    then exactly len bytes
#   W <message>                                         a warning
#   END ok
# shellcheck shell=sh

PROTOCOL=1
TAB=$(printf '\t')
NL='
'
export LC_ALL=C
umask 077

fail() {
    printf 'CCPOD-AGENT %s none\nW\t%s\nEND\tfailed\n' "$PROTOCOL" "$1"
    exit 3
}

[ "$1" = "$PROTOCOL" ] || fail "protocol mismatch: ccpod speaks $1, this agent speaks $PROTOCOL; update ccpod on both ends"
req_comp=${2:-none}

# --- small helpers ------------------------------------------------------------

sha_of_file() { # path -> sha256 of the whole file
    sum=$(sha256sum < "$1")
    printf '%s' "${sum%% *}"
}

sha_of_prefix() { # path length -> sha256 of the first length bytes
    sum=$(head -c "$2" "$1" | sha256sum)
    printf '%s' "${sum%% *}"
}

sha_of_range() { # path offset length
    sum=$(tail -c +"$(($2 + 1))" "$1" | head -c "$3" | sha256sum)
    printf '%s' "${sum%% *}"
}

stat_of() { # path -> "size<TAB>mtime" or empty
    [ -f "$1" ] || return 1
    find "$1" -maxdepth 0 -printf '%s\t%T@'
}

lines_in_range() { # path offset length -> number of newlines
    tail -c +"$(($2 + 1))" "$1" | head -c "$3" | wc -l | tr -d ' '
}

# Emit a data record with exactly len bytes of path from offset; if the file
# shrank meanwhile, zero padding keeps the framing and the hash tells ccpod.
emit_data() { # rel path offset length
    h=$(sha_of_range "$2" "$3" "$4")
    printf 'D\t%s\t%s\t%s\t%s\n' "$3" "$4" "$h" "$1"
    if [ "$3" -eq 0 ]; then
        { head -c "$4" "$2"; head -c "$4" /dev/zero; } | head -c "$4"
    else
        { tail -c +"$(($3 + 1))" "$2" | head -c "$4"; head -c "$4" /dev/zero; } | head -c "$4"
    fi
}

emit_state() { # state size mtime lines sha rel
    printf 'S\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" "$6"
}

is_safe_rel() { # a relative path that stays inside the Claude dir
    case "$1" in
        ''|/*|..|../*|*/..|*/../*|*"$NL"*) return 1 ;;
    esac
    return 0
}

# Read exactly n bytes of stdin into a file and check its sha256.
read_payload() { # n sha dest
    head -c "$1" > "$3" || return 1
    [ "$(wc -c < "$3" | tr -d ' ')" -eq "$1" ] || return 1
    [ "$(sha_of_file "$3")" = "$2" ]
}

# --- request ------------------------------------------------------------------

run_agent() {
IFS= read -r hello || fail "empty request"
case "$hello" in
    "CCPOD-REQ $PROTOCOL") ;;
    *) fail "unexpected request header" ;;
esac

root='' claude='' state='' mode=status busy=5 accept=none
work=$(mktemp -d "${TMPDIR:-/tmp}/ccpod-agent.XXXXXX") || fail "cannot create a temporary folder"
trap 'rm -rf "$work"' EXIT HUP INT TERM
: > "$work/known"
: > "$work/scope"
: > "$work/ids"
: > "$work/renames"
n=0
bad=''
while IFS="$TAB" read -r kind a b c d e f g h; do
    case "$kind" in
        O)
            case "$a" in
                root) root=$b ;; claude) claude=$b ;; state) state=$b ;;
                mode) mode=$b ;; busy) busy=$b ;; accept) accept=$b ;;
            esac ;;
        S) printf '%s\n' "$a" >> "$work/scope" ;;
        I) printf '%s\n' "$a" >> "$work/ids" ;;
        K)
            # a=seenSize b=seenMtime c=ancSize d=ancHash e=op f=len g=sha h=path
            n=$((n + 1))
            if [ "$f" -gt 0 ] 2>/dev/null; then
                read_payload "$f" "$g" "$work/p.$n" || bad="payload for $h is damaged"
            fi
            is_safe_rel "$h" || bad="unsafe path in request"
            printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$h" "$a" "$b" "$c" "$d" "$e" "$f" "$g" "$n" >> "$work/known" ;;
        END) break ;;
        *) bad="unknown request record" ;;
    esac
done
[ -n "$bad" ] && fail "$bad"
[ -n "$claude" ] || fail "request names no Claude dir"
base="$root$claude"
jdir="$root$state/journal"

# --- response stream ----------------------------------------------------------

comp=none
case ",$accept," in
    *,zstd,*) command -v zstd >/dev/null 2>&1 && comp=zstd ;;
esac
if [ "$comp" = none ]; then
    case ",$accept," in
        *,gzip,*) command -v gzip >/dev/null 2>&1 && comp=gzip ;;
    esac
fi
printf 'CCPOD-AGENT %s %s\n' "$PROTOCOL" "$comp"
case "$comp" in
    zstd) main | zstd -q -3 -c ;;
    gzip) main | gzip -1 -c ;;
    *) main ;;
esac
}

# Finish appends an earlier, interrupted exchange left in the journal: the
# file is at the old size (append again), part way (cut back, append again) or
# complete (nothing to do). Anything else is left alone and reported.
recover_journal() {
    [ -d "$jdir" ] || return 0
    for meta in "$jdir"/*.meta; do
        [ -f "$meta" ] || continue
        IFS="$TAB" read -r rel anc len _ < "$meta"
        data=${meta%.meta}.data
        f="$base/$rel"
        if [ -f "$f" ] && [ -f "$data" ]; then
            size=$(wc -c < "$f" | tr -d ' ')
            if [ "$size" -ge "$anc" ] && [ "$size" -lt $((anc + len)) ]; then
                truncate -s "$anc" "$f" && cat "$data" >> "$f"
            fi
        fi
        rm -f "$meta" "$data"
    done
}

main() {
    recover_journal

    # Sessions a running claude has open: <claude>/sessions/<pid>.json with a live pid.
    busy_ids=' '
    for reg in "$base"/sessions/*.json; do
        [ -f "$reg" ] || continue
        pid=$(sed -n 's/.*"pid"[ ]*:[ ]*\([0-9][0-9]*\).*/\1/p' "$reg" | head -n 1)
        sid=$(sed -n 's/.*"sessionId"[ ]*:[ ]*"\([^"]*\)".*/\1/p' "$reg" | head -n 1)
        if [ -n "$pid" ] && [ -n "$sid" ] && kill -0 "$pid" 2>/dev/null; then
            busy_ids="$busy_ids$sid "
        fi
    done
    now=$(date +%s)

    # Per-session folders of the sessions in scope (ccpod's and the pod's own).
    if [ -d "$base" ]; then
        cd "$base" || exit 3
        while IFS= read -r dir; do
            [ -d "$dir" ] || continue
            for t in "$dir"/*.jsonl; do
                [ -f "$t" ] || continue
                t=${t##*/}
                printf '%s\n' "${t%.jsonl}" >> "$work/ids"
            done
        done < "$work/scope"
        sort -u "$work/ids" | while IFS= read -r id; do
            [ -n "$id" ] || continue
            [ -d "file-history/$id" ] && printf '%s\n' "file-history/$id"
            [ -d "tasks/$id" ] && printf '%s\n' "tasks/$id"
            for t in todos/"$id"-*.json; do
                [ -f "$t" ] && printf '%s\n' "$t"
            done
        done >> "$work/scope"
        # Stat of every file in scope, one find for all of them.
        sort -u "$work/scope" | while IFS= read -r dir; do
            [ -e "$dir" ] || continue
            find -H "$dir" -type f ! -name "*$NL*" ! -name ".*.ccpod-*" -printf '%p\t%s\t%T@\n'
        done > "$work/pod.unsorted"
        cd / || exit 3
    else
        : > "$work/pod.unsorted"
    fi
    sort -t "$TAB" -k1,1 "$work/pod.unsorted" > "$work/pod"
    sort -t "$TAB" -k1,1 "$work/known" > "$work/known.sorted"
    join -t "$TAB" -a1 -a2 -e - -o 0,1.2,1.3,1.4,1.5,1.6,1.7,1.8,1.9,2.2,2.3 \
        "$work/known.sorted" "$work/pod" > "$work/joined"

    writes=0
    while IFS="$TAB" read -r rel seen_size seen_mtime anc anc_sha op len sha idx size mtime; do
        f="$base/$rel"
        # A file ccpod names outside the scanned folders is looked at directly.
        if [ "$size" = - ] && [ "$op" != - ] && [ -f "$f" ]; then
            st=$(stat_of "$f")
            size=${st%%"$TAB"*}
            mtime=${st#*"$TAB"}
        fi
        is_busy=no
        if [ "$size" != - ]; then
            id=${rel##*/}
            id=${id%.jsonl}
            case "$busy_ids" in *" $id "*) is_busy=yes ;; esac
            secs=${mtime%.*}
            [ $((now - secs)) -lt "$busy" ] && is_busy=yes
        fi
        if [ "$op" = - ]; then
            # Only on the pod.
            [ "$is_busy" = yes ] && { emit_state busy "$size" "$mtime" 0 - "$rel"; continue; }
            case "$mode" in
                pull|sync)
                    emit_state new "$size" "$mtime" 0 "$(sha_of_prefix "$f" "$size")" "$rel"
                    emit_data "$rel" "$f" 0 "$size" ;;
                *) emit_state new "$size" "$mtime" 0 - "$rel" ;;
            esac
            continue
        fi
        # Writes go to where a symlink points (the pod keeps its files on /workspace).
        if [ -L "$f" ]; then
            f=$(readlink -f "$f")
        fi
        if [ "$size" = - ]; then
            if [ "$op" = P ]; then
                mkdir -p "${f%/*}" && cp "$work/p.$idx" "$f.ccpod-new" && writes=$((writes + 1))
                printf '%s\n' "$rel" >> "$work/renames"
            else
                emit_state gone - - 0 - "$rel"
            fi
            continue
        fi
        # Is the pod's file still what both sides last agreed on?
        unchanged=no
        if [ "$size" = "$seen_size" ] && [ "$mtime" = "$seen_mtime" ]; then
            unchanged=yes
        elif [ "$is_busy" = yes ]; then
            emit_state busy "$size" "$mtime" 0 - "$rel"
            continue
        elif [ "$anc" != - ] && [ "$size" = "$anc" ] && [ "$(sha_of_prefix "$f" "$anc")" = "$anc_sha" ]; then
            unchanged=touched
        fi
        case "$op" in
            C) ;;
            A)
                if [ "$unchanged" != no ]; then
                    mkdir -p "$jdir"
                    cp "$work/p.$idx" "$jdir/$idx.data"
                    printf '%s\t%s\t%s\t-\n' "$rel" "$anc" "$len" > "$jdir/$idx.meta.tmp"
                    sync "$jdir/$idx.data" "$jdir/$idx.meta.tmp" 2>/dev/null
                    mv "$jdir/$idx.meta.tmp" "$jdir/$idx.meta"
                    cat "$work/p.$idx" >> "$f"
                    newsize=$(wc -c < "$f" | tr -d ' ')
                    if [ "$newsize" -eq $((anc + len)) ] && [ "$(sha_of_range "$f" "$anc" "$len")" = "$sha" ]; then
                        sync "$f" 2>/dev/null
                        rm -f "$jdir/$idx.meta" "$jdir/$idx.data"
                        # shellcheck disable=SC2046
                        set -- $(stat_of "$f")
                        emit_state appended "$1" "$2" 0 - "$rel"
                    else
                        printf 'W\tappend to %s could not be verified; the journal will retry it\n' "$rel"
                        emit_state failed "$newsize" - 0 - "$rel"
                    fi
                    continue
                fi
                # Already there (an earlier run appended it and was cut off before it heard back)?
                if [ "$size" -eq $((anc + len)) ] && [ "$(sha_of_prefix "$f" "$anc")" = "$anc_sha" ] &&
                    [ "$(sha_of_range "$f" "$anc" "$len")" = "$sha" ]; then
                    emit_state appended "$size" "$mtime" 0 - "$rel"
                    continue
                fi ;;
            P)
                h=$(sha_of_prefix "$f" "$size")
                if [ "$h" = "$sha" ]; then
                    emit_state identical "$size" "$mtime" 0 "$h" "$rel"
                else
                    emit_state conflict "$size" "$mtime" 0 "$h" "$rel"
                fi
                continue ;;
            R)
                if [ "$unchanged" != no ]; then
                    cp "$work/p.$idx" "$f.ccpod-new" && writes=$((writes + 1))
                    printf '%s\n' "$rel" >> "$work/renames"
                    continue
                fi ;;
            D)
                if [ "$unchanged" != no ]; then
                    rm -f "$f"
                    emit_state deleted - - 0 - "$rel"
                    continue
                fi ;;
        esac
        # Not applied: tell ccpod how the pod's file moved on.
        if [ "$unchanged" = yes ]; then
            continue
        elif [ "$unchanged" = touched ]; then
            emit_state same "$size" "$mtime" 0 "$anc_sha" "$rel"
        elif [ "$anc" != - ] && [ "$size" -gt "$anc" ] && [ "$(sha_of_prefix "$f" "$anc")" = "$anc_sha" ]; then
            grown=$((size - anc))
            emit_state grew "$size" "$mtime" "$(lines_in_range "$f" "$anc" "$grown")" - "$rel"
            case "$mode" in pull|sync) emit_data "$rel" "$f" "$anc" "$grown" ;; esac
        else
            h=$(sha_of_prefix "$f" "$size")
            emit_state rewritten "$size" "$mtime" "$(lines_in_range "$f" 0 "$size")" "$h" "$rel"
            case "$mode" in pull|sync) emit_data "$rel" "$f" 0 "$size" ;; esac
        fi
    done < "$work/joined"

    # New and replaced files: flush them all at once, then rename into place.
    if [ "$writes" -gt 0 ]; then
        sync -f "$base" 2>/dev/null || sync
        while IFS= read -r rel; do
            f="$base/$rel"
            [ -L "$f" ] && f=$(readlink -f "$f")
            # shellcheck disable=SC2046
            mv "$f.ccpod-new" "$f" && set -- $(stat_of "$f") && emit_state written "$1" "$2" 0 - "$rel"
        done < "$work/renames"
    fi
    printf 'END\tok\n'
}

# ccpod compresses the request with what it expects the pod to have; if the pod
# lacks it, say so before reading anything and ccpod sends it again uncompressed.
case "$req_comp" in
    zstd|gzip)
        if ! command -v "$req_comp" >/dev/null 2>&1; then
            printf 'CCPOD-AGENT %s no-%s\n' "$PROTOCOL" "$req_comp"
            exit 0
        fi ;;
esac
case "$req_comp" in
    zstd) zstd -q -d -c | run_agent ;;
    gzip) gzip -d -c | run_agent ;;
    *) run_agent ;;
esac
