# ccpod artifacts agent. POSIX sh + GNU coreutils + find; zstd or gzip and
# openssl (a faster SHA-256) when present. One exec, two phases on stdin/stdout.
# (About 500 lines, over the project's 400: it travels whole in one command line,
# so it stays one file, its wire format stated here.)
#
# Usage: sh -c "$SCRIPT" ccpod-artifacts PROTOCOL ROOT RUNDIR TOP...
#   ROOT is prepended to RUNDIR ("" on a real pod); TOP are folders of the run
#   dir to list ("." for all of it); `code` is never listed unless named.
#
# Wire format (protocol 3). Records are lines, fields separated by TAB, the path
# always last; sizes, offsets and counts are decimal. Each letter has one meaning
# in each direction (pod -> ccpod: R V F L W D Z B E H A Y END; ccpod -> pod:
# G S N C P Z END).
#
# Phase 1, pod -> ccpod, at once: a plain line `CCPOD-ART <protocol> <tools>`
# (tools: zstd,gzip or none), then `LIST <compression> <bytes>` and that many
# bytes, the listing:
#   R <ok|missing>                 the run dir
#   V <free bytes>                 free space where the run dir is
#   F <size> <mtime> <path>        a regular file (path relative to the run dir)
#   L <inside|outside> <path>      a symbolic link, never followed
#   W <message>
# Phase 2, ccpod -> pod: a plain line `CCPOD-ART-REQ <protocol> <request comp>
# <response comp>`, then (compressed) records:
#   G <offset> <length> <prefixsha|-> <path>  send length bytes from offset; an
#       offset > 0 only when the first offset bytes hash to prefixsha, else from
#       0 up to offset + length (never more than was asked)
#   S <length> <path>                        a small file to send whole (at most
#       length bytes), in a batch
#   N                                        send the batch now (so does any other record)
#   C - - - <path>                           hash the whole file
#   P <offset> <length> - <path>             then length bytes for the file's part
#       (`.NAME.ccpod-part` next to it), then a line `Z <sha256 of the whole file>`;
#       the part is renamed into place once it hashes to that
#   END
# Phase 2, pod -> ccpod, the (compressed) answer:
#   D <offset> <length> <path>, exactly length bytes, then Z <sha of them> <path>
#   B <count>, then count lines `E <size> <sha256> <path>`, then the files' bytes
#       one after the other (a batch of small files, copied first so each is consistent)
#   H <sha> <size> <mtime> <path>            for C
#   A <ok|bad|restart|refused|short> <size> <mtime> <path>   for P (size and mtime
#       `-` unless ok; short: the stream ended early; the part is kept and the agent stops)
#   W <message>
#   Y                                        the rest of the answer is compressed
#       (response compression); files whose sample does not shrink come before it
#       as they are, everything else after it (no Y: the rest as it is, when the
#       link took the plain files as fast as the pod could compress them)
#   END ok
#
# Failures (one convention): before phase 1's header, `CCPOD-ART <protocol> failed`
# and a line saying why; after it, `W <why>` and `END failed`; the exit status is 3.
# A request that stops before its END (ccpod stopped) ends the agent quietly.
#
# Keepalive: while the agent runs, a line `ccpod-alive` goes to stderr every 5 s
# (stdout is the data stream), so ccpod tells a working pod from a stalled one.
# shellcheck shell=sh

PROTOCOL=3
TAB=$(printf '\t')
NL='
'
export LC_ALL=C
umask 077

said_hello=no
fail() { # why
    if [ "$said_hello" = yes ]; then
        printf 'W\t%s\nEND\tfailed\n' "$1"
    else
        printf 'CCPOD-ART %s failed\n%s\n' "$PROTOCOL" "$1"
    fi
    exit 3
}

# The keepalive ticker: stderr only (stdout and stdin closed), ended with the agent;
# it also stops by itself within 5 s of the agent's death (kill -0), so nothing holds
# the connection open after a kill -9.
agent_pid=$$
keepalive() {
    trap - EXIT HUP INT TERM
    while sleep 5 >/dev/null 2>&1 && kill -0 "$agent_pid" 2>/dev/null; do
        printf 'ccpod-alive\n' >&2 || exit 0
    done
}
keepalive </dev/null >/dev/null &
ticker=$!
work=''
trap 'kill "$ticker" 2>/dev/null; [ -z "$work" ] || rm -rf "$work"' EXIT
trap 'exit 1' HUP INT TERM

[ "$1" = "$PROTOCOL" ] || fail "protocol mismatch: ccpod speaks $1, this agent speaks $PROTOCOL; use the same ccpod version on both ends"
root=$2
rundir=$root$3
shift 3

work=$(mktemp -d "${TMPDIR:-/tmp}/ccpod-art.XXXXXX") || fail "cannot create a temporary folder"

tools=''
command -v zstd >/dev/null 2>&1 && tools=zstd
command -v gzip >/dev/null 2>&1 && tools=${tools:+$tools,}gzip
if command -v openssl >/dev/null 2>&1; then
    hash_cmd() { openssl dgst -sha256 -r; }
    hash_files() { xargs -0 openssl dgst -sha256 -r --; }
else
    hash_cmd() { sha256sum; }
    hash_files() { xargs -0 sha256sum --; }
fi

sha_stdin() { # stdin -> sha256 hex
    sum=$(hash_cmd)
    printf '%s' "${sum%% *}"
}

# Exactly length bytes of a file from offset (fewer if it shrank), in large reads:
# GNU dd where it can count bytes, else head (8 KiB reads).
if dd if=/dev/null of=/dev/null bs=1048576 iflag=skip_bytes,count_bytes skip=0 count=0 status=none 2>/dev/null; then
    read_range() { # file offset length
        dd if="$1" bs=1048576 iflag=skip_bytes,count_bytes skip="$2" count="$3" status=none
    }
else
    read_range() { # file offset length
        if [ "$2" -eq 0 ]; then
            head -c "$3" -- "$1"
        else
            tail -c +"$(($2 + 1))" -- "$1" | head -c "$3"
        fi
    }
fi

compress_file() { # comp file -> stdout
    case "$1" in
        zstd) zstd -q -1 -c < "$2" ;;
        gzip) gzip -1 -c < "$2" ;;
        *) cat "$2" ;;
    esac
}

# --- phase 1: the listing -------------------------------------------------------

list_run() {
    if [ ! -d "$rundir" ]; then
        printf 'R\tmissing\n'
        return
    fi
    printf 'R\tok\n'
    real_run=$(readlink -f -- "$rundir")
    # printf: mawk prints a product above 2^31 as 8.18346e+10.
    free=$(df -Pk -- "$rundir" 2>/dev/null | awk 'NR == 2 { printf "%.0f\n", $4 * 1024 }')
    printf 'V\t%s\n' "${free:-0}"
    cd "$rundir" || return
    for top in "$@"; do
        [ -e "$top" ] || [ -L "$top" ] || continue
        if [ "$top" = . ]; then
            find -P . \( -path ./code -prune \) -o \( \( -name "*$NL*" -o -name "*$TAB*" \) -printf 'W\tskipped a name with a tab or a newline (ccpod cannot carry it)\n' -prune \) -o \
                \( -type f -printf 'F\t%s\t%T@\t%P\n' \) -o \( -type l -printf 'L\t-\t%P\n' \)
        else
            find -P "$top" \( \( -name "*$NL*" -o -name "*$TAB*" \) -printf 'W\tskipped a name with a tab or a newline (ccpod cannot carry it)\n' -prune \) -o \
                \( -type f -printf 'F\t%s\t%T@\t%p\n' \) -o \( -type l -printf 'L\t-\t%p\n' \)
        fi
    done > "$work/raw"
    # Where each link points: inside the run dir or not (never followed either way).
    while IFS= read -r line; do
        case "$line" in
            "L$TAB-$TAB"*)
                rel=${line#L"$TAB"-"$TAB"}
                target=$(readlink -f -- "$rel" 2>/dev/null)
                case "$target" in
                    "$real_run"/*) printf 'L\tinside\t%s\n' "$rel" ;;
                    *) printf 'L\toutside\t%s\n' "$rel" ;;
                esac ;;
            *) printf '%s\n' "$line" ;;
        esac
    done < "$work/raw"
    cd / || return
}

list_run "$@" > "$work/list"
comp=none
case "$tools" in zstd*) comp=zstd ;; *gzip*) comp=gzip ;; esac
compress_file "$comp" "$work/list" > "$work/list.c"
printf 'CCPOD-ART %s %s\n' "$PROTOCOL" "${tools:-none}"
said_hello=yes
printf 'LIST %s %s\n' "$comp" "$(wc -c < "$work/list.c" | tr -d ' ')"
cat "$work/list.c"

# --- phase 2: the transfer --------------------------------------------------------

is_safe_rel() {
    case "$1" in
        ''|/*|..|../*|*/..|*/../*|*"$NL"*) return 1 ;;
    esac
    return 0
}

# Send length bytes of a file from offset. A file that shrank meanwhile sends
# fewer bytes: ccpod then finds the framing broken, keeps the files that arrived
# whole and tries the rest on its next run.
send_range() { # rel offset length prefixsha
    f=$rundir/$1
    off=$2
    len=$3
    if [ "$off" -gt 0 ]; then
        have=$(head -c "$off" -- "$f" 2>/dev/null | sha_stdin)
        if [ "$have" != "$4" ]; then
            # The whole file instead, up to the size that was asked for.
            len=$((off + len))
            off=0
            now=$(( $(wc -c < "$f") ))
            [ "$now" -lt "$len" ] && len=$now
        fi
    fi
    printf 'D\t%s\t%s\t%s\n' "$off" "$len" "$1"
    hash_range "$f" "$off" "$len" > "$work/sum" &
    hashing=$!
    read_range "$f" "$off" "$len"
    wait "$hashing"
    read -r range_sum < "$work/sum"
    printf 'Z\t%s\t%s\n' "$range_sum" "$1"
}

# The SHA-256 of what send_range sends, from a second read beside it (the page
# cache serves both; no copy through tee). A whole file is hashed straight from
# disk and the hash kept when the file still has the length afterwards (it did
# not grow meanwhile, as a log does); otherwise the range is hashed as sent.
# Bytes that changed between the two reads show as a mismatch, which ccpod rejects.
hash_range() { # file offset length -> sha256 hex and a newline
    if [ "$2" -eq 0 ]; then
        whole_sum=$(sha_stdin < "$1")
        if [ "$(( $(wc -c < "$1") ))" -eq "$3" ]; then
            printf '%s\n' "$whole_sum"
            return
        fi
    fi
    read_range "$1" "$2" "$3" | sha_stdin
    echo
}

# Whether a file is worth compressing: a 64 KiB sample from its middle shrinks by
# a sixteenth or more. Random checkpoints, images and archives do not; they
# travel as they are instead of costing CPU on both ends for nothing. Files of
# one folder with one extension are taken to compress alike: one sample for all.
compressible_kinds=$NL
plain_kinds=$NL
compresses() { # file length
    [ "$2" -gt 131072 ] || return 0
    sample_name=${1##*/}
    case "$sample_name" in
        *.*) sample_kind="${1%/*}/*.${sample_name##*.}" ;;
        *) sample_kind=$1 ;;
    esac
    case "$compressible_kinds" in *"$NL$sample_kind$NL"*) return 0 ;; esac
    case "$plain_kinds" in *"$NL$sample_kind$NL"*) return 1 ;; esac
    sample=$(dd if="$1" bs=65536 skip="$(($2 / 131072))" count=1 2>/dev/null | encode | wc -c)
    if [ "$((sample))" -le 61440 ]; then
        compressible_kinds=$compressible_kinds$sample_kind$NL
        return 0
    fi
    plain_kinds=$plain_kinds$sample_kind$NL
    return 1
}

# Small files go together: copied to a snapshot in one `cp`, sized and hashed in
# one call each, and sent with one `cat`, so a thousand results cost a few forks.
flush_batch() {
    [ -s "$work/batch" ] || return 0
    rm -rf "$work/snap" && mkdir "$work/snap" || return 0
    cut -f 2- < "$work/batch" | tr '\n' '\0' > "$work/batch.paths"
    (cd "$rundir" && xargs -0 cp -P --parents -t "$work/snap" -- < "$work/batch.paths") 2>/dev/null
    : > "$work/batch.ok"
    : > "$work/batch.want"
    while IFS="$TAB" read -r want rel; do
        if [ -f "$work/snap/$rel" ] && [ ! -L "$work/snap/$rel" ]; then
            printf '%s\n' "$rel" >> "$work/batch.ok"
            printf '%s\n' "$want" >> "$work/batch.want"
        else
            printf 'W\tcannot read %s on the pod\n' "$rel"
        fi
    done < "$work/batch"
    : > "$work/batch"
    count=$(( $(wc -l < "$work/batch.ok") ))
    [ "$count" -gt 0 ] || return 0
    cd "$work/snap" || return 0
    tr '\n' '\0' < "$work/batch.ok" | xargs -0 stat -c %s -- > "$work/batch.have"
    # A file that grew since it was listed (a log) is cut to the size asked for:
    # never more bytes than ccpod asked; it takes the new end on its next pull.
    paste "$work/batch.have" "$work/batch.want" "$work/batch.ok" |
        while IFS="$TAB" read -r have want rel; do
            if [ "$have" -gt "$want" ]; then
                truncate -s "$want" -- "$rel"
                have=$want
            fi
            printf '%s\n' "$have"
        done > "$work/batch.sizes"
    tr '\n' '\0' < "$work/batch.ok" | hash_files 2>/dev/null |
        sed 's/^\\//; s/^\([0-9a-f]\{64\}\).*/\1/' > "$work/batch.sums"
    if [ "$(( $(wc -l < "$work/batch.sizes") ))" -eq "$count" ] && [ "$(( $(wc -l < "$work/batch.sums") ))" -eq "$count" ]; then
        printf 'B\t%s\n' "$count"
        paste "$work/batch.sizes" "$work/batch.sums" "$work/batch.ok" | sed 's/^/E\t/'
        tr '\n' '\0' < "$work/batch.ok" | xargs -0 cat --
    else
        printf 'W\tcould not read a batch of small files on the pod\n'
    fi
    cd / || return 0
}

stat_of() { # path -> "size<TAB>mtime"
    find "$1" -maxdepth 0 -printf '%s\t%T@'
}

# Receive a part of a file; it goes into place only once it hashes right.
receive_part() { # rel offset length
    f=$rundir/$1
    dir=${f%/*}
    name=${f##*/}
    part=$dir/.$name.ccpod-part
    # Never write through a link that leaves the run dir.
    case "$(readlink -m -- "$dir")/" in
        "$real_run"/*) ;;
        *) head -c "$3" > /dev/null; read -r _; printf 'A\trefused\t-\t-\t%s\n' "$1"; return ;;
    esac
    if ! mkdir -p -- "$dir" 2>/dev/null; then
        head -c "$3" > /dev/null; read -r _; printf 'A\trefused\t-\t-\t%s\n' "$1"; return
    fi
    if [ "$2" -eq 0 ]; then
        : > "$part"
    else
        have=-1
        [ -f "$part" ] && have=$(( $(wc -c < "$part") ))
        if [ "$have" -lt "$2" ]; then
            head -c "$3" > /dev/null; read -r _
            rm -f "$part"
            printf 'A\trestart\t-\t-\t%s\n' "$1"
            return
        fi
        [ "$have" -gt "$2" ] && truncate -s "$2" "$part"
    fi
    head -c "$3" >> "$part"
    if [ "$(( $(wc -c < "$part") ))" -lt "$(($2 + $3))" ] || ! IFS="$TAB" read -r z whole || [ "$z" != Z ]; then
        # The stream ended early (connection lost, ccpod stopped): keep what
        # arrived; the next push checks it and sends only the rest.
        printf 'A\tshort\t-\t-\t%s\n' "$1"
        exit 0
    fi
    if [ "$(sha_stdin < "$part")" = "$whole" ]; then
        sync "$part" 2>/dev/null
        mv -f -- "$part" "$f"
        printf 'A\tok\t%s\t%s\n' "$(stat_of "$f")" "$1"
    else
        rm -f "$part"
        printf 'A\tbad\t-\t-\t%s\n' "$1"
    fi
}

# One record of the request. Small files wait for their batch, which goes out
# before any other record.
serve_record() { # kind a b c d
    [ "$1" = S ] || flush_batch
    case "$1" in
        S)
            if is_safe_rel "$3" && [ "$2" -ge 0 ] 2>/dev/null; then
                printf '%s\t%s\n' "$2" "$3" >> "$work/batch"
            else
                return 1
            fi ;;
        N) ;;
        G)
            if is_safe_rel "$5" && [ -f "$rundir/$5" ] && [ ! -L "$rundir/$5" ]; then
                send_range "$5" "$2" "$3" "$4"
            else
                printf 'W\tcannot read %s on the pod\n' "$5"
            fi ;;
        C)
            if is_safe_rel "$5" && [ -f "$rundir/$5" ] && [ ! -L "$rundir/$5" ]; then
                st=$(stat_of "$rundir/$5")
                printf 'H\t%s\t%s\t%s\n' "$(sha_stdin < "$rundir/$5")" "$st" "$5"
            fi ;;
        P)
            if is_safe_rel "$5" && [ "$2" -ge 0 ] 2>/dev/null && [ "$3" -ge 0 ] 2>/dev/null; then
                receive_part "$5" "$2" "$3"
            else
                return 1
            fi ;;
        *) return 1 ;;
    esac
}

answer_end() { # ok|no
    flush_batch
    if [ "$1" = yes ]; then
        printf 'END\tok\n'
    else
        printf 'W\tthe request was malformed\nEND\tfailed\n'
    fi
}

# Nanoseconds since the epoch, or nothing where date cannot say (no GNU date).
now_ns() {
    t=$(date +%s%N 2>/dev/null)
    case "$t" in ''|*[!0-9]*) t='' ;; esac
    printf '%s' "$t"
}

# Whether compressing the files that wait in $work/later would make them arrive
# sooner. The plain files went first, so how fast the link took them is known
# (their bytes over the time the plain phase took, the requests read meanwhile
# included, which errs towards compressing);
# the compressor is timed on 8 MiB of the first large file waiting. Compressing
# pays only when it outruns the link by half again (a pod on the far side of the
# internet: always); on a link as fast as the compressor (a LAN, loopback, a
# machine short of cores) it only adds work at both ends, so the rest travels
# as it is. Unknown (little sent plainly, no GNU date): compress.
compression_pays() {
    [ "$plain_bytes" -ge 33554432 ] && [ "$plain_ns" -ge 100000000 ] || return 0
    probe=$(awk -F "$TAB" '$1 == "G" && $3 >= 8388608 { print $5; exit }' "$work/later")
    [ -n "$probe" ] && [ -f "$rundir/$probe" ] || return 0
    t0=$(now_ns)
    dd if="$rundir/$probe" bs=1048576 count=8 2>/dev/null | encode > /dev/null
    t1=$(now_ns)
    [ -n "$t0" ] && [ -n "$t1" ] && [ "$t1" -gt "$t0" ] || return 0
    # both rates in KiB per millisecond; compress when the compressor's is 1.5x the link's
    compressor_rate=$((8192 * 1000000 / (t1 - t0)))
    link_rate=$((plain_bytes * 1000000 / plain_ns / 1024))
    [ $((compressor_rate * 2)) -gt $((link_rate * 3)) ]
}

# With a response compression, what does not compress goes out at once as it is;
# the rest waits in $work/later and follows, compressed, after a `Y` record (or
# as it is, when compressing would not make it arrive sooner: compression_pays).
serve() {
    ok=yes
    plain_bytes=0 plain_ns=0
    : > "$work/batch"
    : > "$work/later"
    real_run=$(readlink -f -- "$rundir")
    # The plain phase is timed as a whole (two forks of date, not two per file).
    started=''
    [ "$resp_comp" != none ] && started=$(now_ns)
    while IFS="$TAB" read -r kind a b c d; do
        [ "$kind" = END ] && break
        if [ "$resp_comp" != none ]; then
            case "$kind" in
                S) printf 'S\t%s\t%s\n' "$a" "$b" >> "$work/later"; continue ;;
                N) printf 'N\n' >> "$work/later"; continue ;;
                C) printf 'C\t-\t-\t-\t%s\n' "$d" >> "$work/later"; continue ;;
                G)
                    if ! is_safe_rel "$d" || ! [ -f "$rundir/$d" ] || compresses "$rundir/$d" "$b"; then
                        printf 'G\t%s\t%s\t%s\t%s\n' "$a" "$b" "$c" "$d" >> "$work/later"
                        continue
                    fi
                    plain_bytes=$((plain_bytes + b)) ;;
            esac
        fi
        serve_record "$kind" "$a" "$b" "$c" "$d" || { ok=no; break; }
    done
    if [ -n "$started" ]; then
        ended=$(now_ns)
        [ -n "$ended" ] && plain_ns=$((ended - started))
    fi
    if [ "$ok" = yes ] && [ -s "$work/later" ]; then
        if compression_pays; then
            printf 'Y\n'
            serve_later | encode
        else
            serve_later
        fi
    else
        answer_end "$ok"
    fi
}

serve_later() {
    while IFS="$TAB" read -r kind a b c d; do
        serve_record "$kind" "$a" "$b" "$c" "$d"
    done < "$work/later"
    answer_end yes
}

IFS=' ' read -r hello proto req_comp resp_comp || exit 0
if [ "$hello" != "CCPOD-ART-REQ" ] || [ "$proto" != "$PROTOCOL" ]; then
    fail "the request did not start with CCPOD-ART-REQ $PROTOCOL"
fi
case "$req_comp" in
    zstd) decode() { zstd -q -d -c; } ;;
    gzip) decode() { gzip -d -c; } ;;
    *) decode() { cat; } ;;
esac
case "$resp_comp" in
    zstd) encode() { zstd -q -1 -c; } ;;
    gzip) encode() { gzip -1 -c; } ;;
    *) resp_comp=none; encode() { cat; } ;;
esac
# Larger pipes to and from sshd (Linux; perl asks for them, best effort): a stream
# of gigabytes through the default 64 KiB keeps both ends waiting on each other.
command -v perl >/dev/null 2>&1 &&
    perl -e 'fcntl(STDIN, 1031, 1048576); fcntl(STDOUT, 1031, 1048576)' 2>/dev/null
decode | serve
