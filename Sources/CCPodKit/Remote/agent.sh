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
#                                   P put new, R replace, D delete, M merge lines
#                                   (history.jsonl); len bytes follow
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

# Append len bytes of src to file (which must be offset bytes long) through the
# journal, so an interrupted append is finished by the next call. True when the
# appended bytes are verified.
journal_append() { # rel file offset len sha src idx
    mkdir -p "$jdir"
    cp "$6" "$jdir/$7.data"
    printf '%s\t%s\t%s\t-\n' "$1" "$3" "$4" > "$jdir/$7.meta.tmp"
    sync "$jdir/$7.data" "$jdir/$7.meta.tmp" 2>/dev/null
    mv "$jdir/$7.meta.tmp" "$jdir/$7.meta"
    cat "$6" >> "$2"
    [ "$(wc -c < "$2" | tr -d ' ')" -eq $(($3 + $4)) ] && [ "$(sha_of_range "$2" "$3" "$4")" = "$5" ] || return 1
    sync "$2" 2>/dev/null
    rm -f "$jdir/$7.meta" "$jdir/$7.data"
}

# Length of a file's complete lines (up to its last newline).
complete_length() { # path
    cl_size=$(wc -c < "$1" | tr -d ' ')
    if [ "$cl_size" -gt 0 ] && [ "$(tail -c 1 "$1" | wc -l | tr -d ' ')" -eq 0 ]; then
        cl_size=$((cl_size - $(tail -n 1 "$1" | wc -c | tr -d ' ')))
    fi
    printf '%s' "$cl_size"
}

# Merge prompt-log lines (history.jsonl, op M). The pod keeps every line it has,
# byte for byte, and gains the payload's lines whose key (the line without its
# "project" value) it lacks, placed by timestamp. Its own lines newer than the
# ancestor go back as data (pull, sync). One state ends it: merged (the pod had
# nothing new since the ancestor) or merged-changed, with the size and hash of
# its complete lines, and in lines the number added (else its own new lines).
merge_lines() { # rel file size seen_size seen_mtime anc anc_sha len idx
    m_rel=$1 m_f=$2 m_size=$3 m_seen_size=$4 m_seen_mtime=$5 m_anc=$6 m_anc_sha=$7 m_len=$8
    m_pay="$work/p.$9"
    [ -L "$m_f" ] && m_f=$(readlink -f "$m_f")
    if [ "$m_size" = - ] || [ ! -f "$m_f" ]; then
        if [ "$m_len" -gt 0 ]; then
            mkdir -p "${m_f%/*}" && cp "$m_pay" "$m_f.ccpod-new" && sync "$m_f.ccpod-new" 2>/dev/null
            mv "$m_f.ccpod-new" "$m_f" || { emit_state failed - - 0 - "$m_rel"; return; }
            # shellcheck disable=SC2046
            set -- $(stat_of "$m_f")
            emit_state merged "$1" "$2" "$(wc -l < "$m_f" | tr -d ' ')" "$(sha_of_file "$m_f")" "$m_rel"
        else
            emit_state gone - - 0 - "$m_rel"
        fi
        return
    fi
    # Work on a snapshot; a claude appending meanwhile shows as a changed stat.
    m_before=$(stat_of "$m_f")
    cp "$m_f" "$work/h.cur"
    m_settled=yes
    [ "$(stat_of "$m_f")" = "$m_before" ] || m_settled=no
    m_size=$(wc -c < "$work/h.cur" | tr -d ' ')
    m_mtime=${m_before#*"$TAB"}
    m_csize=$(complete_length "$work/h.cur")
    { [ "$m_csize" = "$m_size" ] && [ "$m_settled" = yes ]; } || m_mtime=-
    m_at=no
    if [ "$m_size" = "$m_seen_size" ] && [ "$m_mtime" = "$m_seen_mtime" ]; then
        m_at=yes
    elif [ "$m_anc" != - ] && [ "$m_csize" = "$m_anc" ] && [ "$(sha_of_prefix "$work/h.cur" "$m_anc")" = "$m_anc_sha" ]; then
        m_at=yes
    fi
    m_lines=0
    if [ "$m_at" = no ]; then
        m_from=0
        if [ "$m_anc" != - ] && [ "$m_csize" -gt "$m_anc" ] && [ "$(sha_of_prefix "$work/h.cur" "$m_anc")" = "$m_anc_sha" ]; then
            m_from=$m_anc
        fi
        m_lines=$(lines_in_range "$work/h.cur" "$m_from" $((m_csize - m_from)))
        case "$mode" in pull|sync) emit_data "$m_rel" "$work/h.cur" "$m_from" $((m_csize - m_from)) ;; esac
    fi
    m_out="$work/h.cur"
    if [ "$m_len" -gt 0 ]; then
        if [ "$m_csize" != "$m_size" ] || [ "$m_settled" = no ]; then
            emit_state busy "$m_size" - 0 - "$m_rel"
            return
        fi
        # Keys the pod has; the payload's lines with other keys, once each.
        sed 's/"project":"[^"]*"//' "$work/h.cur" | sort -u > "$work/h.keys"
        sed "h;s/\"project\":\"[^\"]*\"//;G;s/\n/$TAB/" "$m_pay" | sort -t "$TAB" -k1,1 -u |
            join -t "$TAB" -v 1 - "$work/h.keys" | cut -f 2- > "$work/h.add"
        m_lines=$(wc -l < "$work/h.add" | tr -d ' ')
        if [ "$m_lines" -gt 0 ]; then
            # Timestamp first, then merge: the pod's lines keep their order (a line
            # without a timestamp stays where it is), new ones go in by time.
            sed -e "/\"timestamp\":[0-9]/!s/^/0$TAB/" -e "s/^.*\"timestamp\":\([0-9][0-9]*\).*\$/\1$TAB&/" \
                "$work/h.cur" > "$work/h.cur.d"
            sed -e "/\"timestamp\":[0-9]/!s/^/999999999999999$TAB/" -e "s/^.*\"timestamp\":\([0-9][0-9]*\).*\$/\1$TAB&/" \
                "$work/h.add" | sort -s -n -t "$TAB" -k1,1 > "$work/h.add.d"
            sort -m -s -n -t "$TAB" -k1,1 "$work/h.cur.d" "$work/h.add.d" | cut -f 2- > "$work/h.new"
            if head -c "$m_size" "$work/h.new" | cmp -s - "$work/h.cur"; then
                # Every new line is later than the pod's: an append.
                tail -c +$((m_size + 1)) "$work/h.new" > "$work/h.tail"
                m_tl=$(wc -c < "$work/h.tail" | tr -d ' ')
                if [ "$(stat_of "$m_f")" != "$m_before" ] ||
                    ! journal_append "$m_rel" "$m_f" "$m_size" "$m_tl" "$(sha_of_file "$work/h.tail")" "$work/h.tail" "$9"; then
                    emit_state busy "$m_size" - 0 - "$m_rel"
                    return
                fi
            else
                cp "$work/h.new" "$m_f.ccpod-new" && sync "$m_f.ccpod-new" 2>/dev/null
                # Replaced only if no claude appended since the snapshot.
                if [ "$(stat_of "$m_f")" != "$m_before" ] || ! mv "$m_f.ccpod-new" "$m_f"; then
                    rm -f "$m_f.ccpod-new"
                    emit_state busy "$m_size" - 0 - "$m_rel"
                    return
                fi
            fi
            m_out="$work/h.new"
            m_csize=$(wc -c < "$m_out" | tr -d ' ')
            m_after=$(stat_of "$m_f")
            m_mtime=-
            [ "${m_after%%"$TAB"*}" = "$m_csize" ] && m_mtime=${m_after#*"$TAB"}
        fi
    fi
    if [ "$m_at" = yes ] && [ "$m_out" = "$work/h.cur" ] && [ "$m_csize" = "$m_anc" ]; then
        m_sha=$m_anc_sha
    else
        m_sha=$(sha_of_prefix "$m_out" "$m_csize")
    fi
    if [ "$m_at" = yes ]; then m_kind=merged; else m_kind=merged-changed; fi
    emit_state "$m_kind" "$m_csize" "$m_mtime" "$m_lines" "$m_sha" "$m_rel"
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
        if [ "$op" = M ]; then
            merge_lines "$rel" "$f" "$size" "$seen_size" "$seen_mtime" "$anc" "$anc_sha" "$len" "$idx"
            continue
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
                    if journal_append "$rel" "$f" "$anc" "$len" "$sha" "$work/p.$idx" "$idx"; then
                        # shellcheck disable=SC2046
                        set -- $(stat_of "$f")
                        emit_state appended "$1" "$2" 0 - "$rel"
                    else
                        printf 'W\tappend to %s could not be verified; the journal will retry it\n' "$rel"
                        emit_state failed "$(wc -c < "$f" | tr -d ' ')" - 0 - "$rel"
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
