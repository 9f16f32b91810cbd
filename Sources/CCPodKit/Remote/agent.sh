# ccpod pod-side agent. POSIX sh + GNU coreutils, find, sed and awk; tar, zstd,
# gzip and openssl when present.
# Sent with every call as the `sh -c` script; stdin and stdout carry the exchange.
# One file of over 400 lines for that reason: it travels whole in one exec, alone.
#
# Usage: sh -c "$AGENT" ccpod-agent PROTOCOL REQUEST_COMPRESSION
#
# Request (stdin, after optional decompression): text records, fields separated
# by TAB, the path always last.
#   CCPOD-REQ <protocol>
#   O <key> <value>                 options: root, claude, state, mode, busy, accept,
#                                   stage (the name of this run's stage folders),
#                                   hashed (a path, once per path: its S record of
#                                   grew or appended carries the SHA-256 of the file's
#                                   first size bytes, for a session paired with a
#                                   sibling whose bytes differ from it),
#                                   overview (1: with mode status, also the N
#                                   records below), early (1: a small request; the
#                                   lock is taken and the pod scanned as soon as
#                                   the B record, or END, is read)
#   S <dir>                         a scope folder (relative to the Claude dir)
#   I <n>                           n bytes of session ids follow, one a line: the
#                                   sessions whose per-session folders are in scope
#   B <n>                           n bytes of file records follow, one a line:
#     K <seenSize> <seenMtime> <ancSize> <ancHash> <op> <len> <sha256> <path>
#                                   a file ccpod knows; ops: C check, A append,
#                                   P put new, R replace, D delete, M merge lines
#                                   (history.jsonl); then the payloads of the
#                                   records with len > 0 and another op than P, in
#                                   order, back to back; then, when there are P
#                                   payloads, a line `T <n>` and n bytes of a tar
#                                   archive holding them, in order, each under the
#                                   stage folder in its path's first folder
#                                   (projects/a/b.jsonl as projects/<stage>/a/b.jsonl;
#                                   ustar, pax headers for long names, padded to
#                                   10240 bytes, from 16 MiB on to 204800)
#   END
#   (a compressed request: then `C checked`, added on the pod by the decompressor
#   once the request's checksum matched)
# The work is batched: one process per step for all files (one hash run over
# every payload, one find for the stats), not one per file; where the pod has
# perl, one perl reads the payloads and one appends and checks them (without it:
# a head, a cat and a cmp per file).
# Response (stdout): one plain line `CCPOD-AGENT <protocol> <compression>`, then
# (compressed) records:
#   S <state> <size> <mtime> <lines> <sha256> <path>   a file's state on the pod
#   D <offset> <len> <sha256> <path>                    then exactly len bytes
#   E <count> <total>       then count D records without their bytes, then the
#                           bytes of all of them back to back (total bytes), then
#                           `H <sha256>` for each of those D records whose hash
#                           was "-", in order: `=` when the file's inode did not
#                           move while it was sent, else its digest now (`-`: gone)
#   W <message>                                         a warning
#   N <kind> <session id> <text>   with option overview: `live` (text -) for each
#                           session a running claude holds; `title`, `summary`,
#                           `first`, `prompt` and `activity` (a JSON string's body as
#                           written, at most 600 bytes: the last custom title, the
#                           last summary, the first and the last typed prompt, the
#                           last timestamp; `slug`: its project folder) for each
#                           session transcript not in sync, read from its first
#                           64 KiB and its last 128 KiB
#   END ok
# Stderr: `ccpod-alive` every 5 s while the agent runs (ccpod takes silence on
# both streams for a stalled pod), and whatever the tools say.
# Lock: after reading the request (a small one: at its B record, see start_early),
# the agent waits (up to 10 min) for <state>/agent.lock (flock, else the folder
# agent.lock.d with the holder's pid), so one agent at a time works on the Claude dir.
# shellcheck shell=sh

PROTOCOL=2
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
for tool in awk sed find sort join head tail xargs sha256sum; do
    command -v "$tool" >/dev/null 2>&1 || fail "the pod has no $tool, which ccpod needs there; install it (on Debian or Ubuntu: apt-get install coreutils findutils sed mawk)"
done
req_comp=${2:-none}

# A keepalive line on stderr every 5 s until the agent exits (stdout carries the
# answer, compressed maybe: it stays out). Its sleep holds none of the pipes, so
# the answer ends as soon as the agent does.
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

# --- small helpers ------------------------------------------------------------

# Enlarges this shell's stdin (0) or stdout (1) pipe to 1 MiB (Linux, where perl is;
# best effort), by a perl beside the shell, not before it. For the pipes inside the
# agent that carry much: the decompressor's to tar (an archive of new files of 4 MiB
# or more), a pull's or a sync's answer to its compressor. At 64 KiB the two ends
# of such a pipe take turns every 64 KiB: in a first push of 228 MB on two cores tar
# was switched out 4,600 times, 970 at 1 MiB; the machine's switches in a first push
# and a first pull fell from about 20,000 to 13,000 each.
enlarge_pipe() { # 0|1
    command -v perl >/dev/null 2>&1 || return 0
    if [ "$1" = 0 ]; then
        # (An asynchronous command's stdin is /dev/null unless redirected: fd 3 carries it.)
        exec 3<&0
        perl -e 'fcntl(STDIN, 1031, 1048576)' <&3 3<&- 2>/dev/null &
        exec 3<&-
    else
        perl -e 'fcntl(STDOUT, 1031, 1048576)' 2>/dev/null &
    fi
}

# Where a new file waits until it is verified and flushed: under this run's stage
# folder in the first folder of its path (on the file system the file goes to),
# the rest of its path below it. Sets $staged (no subshell: called per file).
stage_path() { # rel
    case "$1" in
        */*) staged="$base/${1%%/*}/$stage/${1#*/}" ;;
        *) staged="$base/$stage/$1" ;;
    esac
}

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

# perl, where the pod has it, copies bytes for many files in one process where sh
# takes one per file (head, cat, cmp); every use has a fallback without it. Raw
# bytes throughout (binmode; sysread never reads past what it asks for).
has_perl=no
command -v perl >/dev/null 2>&1 && has_perl=yes
# Reads the payloads, back to back on stdin, into their files: a line <len> TAB
# <file> each in the list (ARGV[0]). Stops reading at the end of stdin, as head
# would (the digests tell the damage).
# shellcheck disable=SC2016
split_payloads_pl='
binmode STDIN;
open(my $list, "<", $ARGV[0]) or exit 2;
my $eof = 0;
while (my $line = <$list>) {
    chomp $line;
    my ($len, $path) = split(/\t/, $line, 2);
    open(my $out, ">", $path) or exit 3;
    binmode $out;
    while ($len > 0 && !$eof) {
        my $n = sysread(STDIN, my $buf, $len < 1048576 ? $len : 1048576);
        defined $n or exit 4;
        if ($n == 0) { $eof = 1; last }
        print $out $buf or exit 3;
        $len -= $n;
    }
    close($out) or exit 3;
}'
# Sends the files a pull's new-file batch names (ARGV[0]: <rel> TAB <size> TAB
# <mtime> a line, relative to the current folder) to stdout back to back, exactly
# size bytes each: zeros for what a file no longer has or that cannot be read, and
# its line number into ARGV[1] (the file is then hashed: its digest tells ccpod);
# nothing past size. One process, 1 MiB at a time, in place of cat and dd (one pipe
# fewer for every byte of a first pull).
# shellcheck disable=SC2016
send_files_pl='
binmode STDOUT;
open(my $list, "<", $ARGV[0]) or exit 2;
open(my $short, ">", $ARGV[1]) or exit 2;
my $zeros = "\0" x 1048576;
my $i = 0;
sub out { my ($buf, $n) = @_; my $off = 0;
    while ($off < $n) { my $w = syswrite(STDOUT, $$buf, $n - $off, $off); defined $w or exit 3; $off += $w; } }
while (my $line = <$list>) {
    chomp $line;
    $i++;
    my ($rel, $left) = split(/\t/, $line, 3);
    if (open(my $in, "<", $rel)) {
        binmode $in;
        while ($left > 0) {
            my $n = sysread($in, my $buf, $left < 1048576 ? $left : 1048576);
            last if !defined $n || $n == 0;
            out(\$buf, $n);
            $left -= $n;
        }
        close($in);
    }
    print $short "$i\n" if $left > 0;
    while ($left > 0) { my $n = $left < 1048576 ? $left : 1048576; out(\$zeros, $n); $left -= $n; }
}
close($short) or exit 3;'
# The appends of a run through its journal, in one process (apply_appends): the
# list (ARGV[0], the file "appends": rel file offset len sha idx lines), the work
# folder holding each payload as p.<idx> (ARGV[1]), the run's journal folder
# (ARGV[2]). Copies the payloads into the journal and writes its meta, all flushed,
# then arms it (meta.tmp renamed meta) and prints "armed"; appends each payload to
# its file, checks each file holds exactly offset + the payload, and prints 1 or 0 a
# line, in order; then, in a child holding the pod lock, flushes those that do, and
# the journal keeps only the appends that could not be verified (none: it is
# removed), for the next call to finish.
# "unjournaled" when the journal cannot be made: nothing was appended. Printed as it
# goes: a perl that dies part way says how far it came.
# (fsync and sync_file_range through syscall where the numbers are known from perl's
# own ELF header: x86_64, aarch64, riscv64; loading IO::Handle for fsync costs 6 ms, a
# third of the work.)
# shellcheck disable=SC2016
journal_append_pl='
my ($listfile, $work, $jrun) = @ARGV;
my ($fsync_nr, $range_nr);
if (open(my $exe, "<", "/proc/self/exe")) {
    binmode $exe;
    my $h;
    if ((sysread($exe, $h, 20) // 0) == 20 && substr($h, 0, 4) eq "\x7fELF" && ord(substr($h, 4, 1)) == 2 && ord(substr($h, 5, 1)) == 1) {
        my $machine = unpack("v", substr($h, 18, 2));
        ($fsync_nr, $range_nr) = (74, 277) if $machine == 62;
        ($fsync_nr, $range_nr) = (82, 84) if $machine == 183 || $machine == 243;
    }
    close($exe);
}
sub flush_file { my ($fh) = @_;
    return syscall($fsync_nr, fileno($fh)) == 0 if defined $fsync_nr;
    require IO::Handle;
    return $fh->sync; }
# Flushes the files named, each on its own: their writes all started first
# (sync_file_range, SYNC_FILE_RANGE_WRITE), so the first fsync waits for all of them
# and the rest find little left. Never the whole file system (syncfs): that waits for
# whatever else the pod has yet to write (12 MiB of a checkpoint: 12 ms here, 100
# MiB: 86 ms), this for these files alone (11 files of 50 KiB: 2-3 ms either way).
sub flush_all { my @open;
    for my $f (@_) { open(my $h, "<", $f) or next; push @open, $h; }
    if (defined $range_nr) { syscall($range_nr, fileno($_), 0, 0, 2) for @open; }
    flush_file($_) for @open; }
$| = 1;
my @todo;
open(my $list, "<", $listfile) or exit 2;
while (my $line = <$list>) { chomp $line; push @todo, [split(/\t/, $line, -1)]; }
close($list);
sub unjournaled { print "unjournaled\n"; exit 0; }
sub put { my ($fh, $buf, $n) = @_; my $at = 0;
    while ($at < $n) { my $w = syswrite($fh, $buf, $n - $at, $at); return 0 unless defined $w && $w > 0; $at += $w; }
    return 1; }
sub copy { my ($from, $to, $mode) = @_;
    open(my $in, "<", $from) or return 0;
    open(my $out, $mode, $to) or return 0;
    binmode $in; binmode $out;
    while (1) { my $n = sysread($in, my $buf, 1048576); return 0 unless defined $n; last if $n == 0; put($out, $buf, $n) or return 0; }
    close($out) or return 0;
    return 1; }
my $path = substr($jrun, 0, 1) eq "/" ? "" : ".";
for my $part (grep { $_ ne "" } split(m{/}, $jrun)) { $path .= "/" . $part; mkdir($path); }
-d $jrun or unjournaled();
for my $a (@todo) { copy("$work/p.$a->[5]", "$jrun/p.$a->[5]", ">") or unjournaled(); }
open(my $meta, ">", "$jrun/meta.tmp") or unjournaled();
for my $a (@todo) { print $meta join("\t", $a->[0], $a->[2], $a->[3], "p.$a->[5]"), "\n" or unjournaled(); }
close($meta) or unjournaled();
flush_all((map { "$jrun/p.$_->[5]" } @todo), "$jrun/meta.tmp");
rename("$jrun/meta.tmp", "$jrun/meta") or unjournaled();
print "armed\n" or exit 5;
for my $a (@todo) { copy("$jrun/p.$a->[5]", $a->[1], ">>"); }
my @same;
for my $a (@todo) {
    my (undef, $file, $offset, $len, undef, $idx) = @$a;
    my $same = 0;
    if (open(my $in, "<", "$jrun/p.$idx") and open(my $got, "<", $file)) {
        binmode $in; binmode $got;
        if (sysseek($got, $offset, 0)) {
            my ($total, $diff) = (0, 0);
            while (my $n = sysread($in, my $want, 1048576)) {
                my $have = "";
                while (length($have) < $n) { my $r = sysread($got, $have, $n - length($have), length($have)); last unless $r; }
                if ($have ne $want) { $diff = 1; last }
                $total += $n;
            }
            my $end = sysread($got, my $more, 1);
            $same = 1 if !$diff && $total == $len && defined $end && $end == 0;
        }
    }
    push @same, $same;
}
# The verdicts go out now; the appended files are flushed and the journal tidied
# after, in a child that holds the pod lock (fd 9, inherited) until it is done. Until
# then the armed journal, flushed above, is what makes the appends survive a crash.
print "$_\n" for @same;
close(STDOUT);
my $child = fork();
exit 0 if $child;
flush_all(map { $todo[$_][1] } grep { $same[$_] } 0 .. $#todo);
my @left = grep { !$same[$_] } 0 .. $#todo;
if (@left) {
    if (open(my $m, ">", "$jrun/meta.tmp")) {
        print $m join("\t", $todo[$_][0], $todo[$_][2], $todo[$_][3], "p.$todo[$_][5]"), "\n" for @left;
        if (close($m)) { flush_all("$jrun/meta.tmp"); rename("$jrun/meta.tmp", "$jrun/meta"); }
    }
} else {
    unlink("$jrun/meta");
    unlink("$jrun/p.$_->[5]") for @todo;
    rmdir($jrun);
}'

# Copies exactly n bytes of stdin to stdout (the answer): GNU dd in 1 MiB blocks
# where it counts bytes, else head, whose 8 KiB writes wake the answer's compressor
# for each (a quarter more CPU, and as much more time, for a pull's hundreds of MB).
copy_bytes() { # n
    if [ -z "$dd_bytes" ]; then
        dd_bytes=no
        dd if=/dev/null of=/dev/null bs=1048576 iflag=fullblock,count_bytes count=0 status=none 2>/dev/null && dd_bytes=yes
    fi
    if [ "$dd_bytes" = yes ]; then
        dd bs=1048576 iflag=fullblock,count_bytes count="$1" status=none
    else
        head -c "$1"
    fi
}

# Emit a data record with exactly len bytes of path from offset; if the file
# shrank meanwhile, zero padding keeps the framing and the hash tells ccpod.
emit_data() { # rel path offset length
    h=$(sha_of_range "$2" "$3" "$4")
    printf 'D\t%s\t%s\t%s\t%s\n' "$3" "$4" "$h" "$1"
    if [ "$3" -eq 0 ]; then
        { head -c "$4" "$2"; head -c "$4" /dev/zero; } | copy_bytes "$4"
    else
        { tail -c +"$(($3 + 1))" "$2" | head -c "$4"; head -c "$4" /dev/zero; } | copy_bytes "$4"
    fi
}

emit_state() { # state size mtime lines sha rel
    printf 'S\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" "$6"
    # A session transcript (projects/<slug>/<36 characters>.jsonl) not in sync: noted.
    if [ "$overview" = 1 ]; then
        case "$1:$6" in
            *:projects/*/*/*) ;;
            new:projects/*/????????-????-????-????-????????????.jsonl|grew:projects/*/????????-????-????-????-????????????.jsonl|rewritten:projects/*/????????-????-????-????-????????????.jsonl|busy:projects/*/????????-????-????-????-????????????.jsonl)
                printf '%s\n' "$6" >> "$work/noted" ;;
        esac
    fi
}

# The overview's N records (option overview): live sessions, then what the noted
# transcripts say of themselves. One awk for all of them; each file read at most
# 64 KiB from its start and 128 KiB from its end.
overview_notes() {
    # shellcheck disable=SC2086
    printf '%s\n' $busy_ids | head -n 1000 | while IFS= read -r sid; do
        case "$sid" in
            ????????-????-????-????-????????????) printf 'N\tlive\t%s\t-\n' "$sid" ;;
        esac
    done
    [ -s "$work/noted" ] || return 0
    sort -u "$work/noted" | head -n 20000 | while IFS= read -r rel; do
        n=${rel##*/}
        s=${rel#projects/}
        printf '\036%s\t%s\n' "${n%.jsonl}" "${s%%/*}"
        head -c 65536 "$base/$rel" 2>/dev/null
        printf '\n\035\n'
        tail -c 131072 "$base/$rel" 2>/dev/null
        printf '\n'
    done | awk -v T="$TAB" '
        function str(line, key,    i, s) {
            i = index(line, key)
            if (!i) return ""
            s = substr(line, i + length(key))
            if (!match(s, /^([^"\\]|\\.)*"/)) return ""
            s = substr(s, 1, RLENGTH - 1)
            if (length(s) > 600) s = substr(s, 1, 600)
            return s
        }
        function flush() {
            if (sid == "") return
            if (title != "") print "N" T "title" T sid T title
            if (summary != "") print "N" T "summary" T sid T summary
            if (first != "") print "N" T "first" T sid T first
            if (last != "") print "N" T "prompt" T sid T last
            if (stamp != "") print "N" T "activity" T sid T stamp
        }
        substr($0, 1, 1) == "\036" { flush(); split(substr($0, 2), h, T); sid = h[1]; print "N" T "slug" T sid T h[2]; part = 1; title = ""; summary = ""; first = ""; last = ""; stamp = ""; next }
        index($0, "\"timestamp\":\"") { t = str($0, "\"timestamp\":\""); if (length(t) <= 40) stamp = t }
        $0 == "\035" { part = 2; next }
        index($0, "\"type\":\"custom-title\"") { t = str($0, "\"customTitle\":\""); if (t != "") title = t; next }
        index($0, "\"type\":\"summary\"") { t = str($0, "\"summary\":\""); if (t != "") summary = t; next }
        index($0, "\"type\":\"user\"") && !index($0, "\"isMeta\":true") {
            # The message content when it is a string (an array is tool results or blocks).
            i = index($0, "\"message\":{")
            if (!i) next
            s = substr($0, i)
            j = index(s, "\"content\":")
            if (!j || substr(s, j + 10, 1) != "\"") next
            p = str(s, "\"content\":\"")
            if (p == "" || p ~ /^(<command-|<local-command-|<bash-|Caveat:|\[Request interrupted|<system-reminder>)/) next
            if (part == 1 && first == "") first = p
            last = p
        }
        END { flush() }'
}

# The hash ccpod asked for (option hashed) of a file's first size bytes, else "-".
asked_hash() { # rel path size
    case "$NL$hashed" in
        *"$NL$1$NL"*) sha_of_prefix "$2" "$3" ;;
        *) printf '%s' - ;;
    esac
}

# SHA-256 of each file named on stdin (one a line), one digest a line, in order;
# openssl (much faster) when the pod has it, else sha256sum.
hash_files() { # tool
    if [ "$1" = openssl ]; then
        xargs -r -d '\n' openssl dgst -sha256 -r 2>/dev/null
    else
        xargs -r -d '\n' sha256sum -- 2>/dev/null
    fi | sed 's/^\\//' | cut -c 1-64
}

# The new files (newdests, their lengths in newlens) split into one list per core
# (at most 4), each a run of files of about the same number of bytes: hashpart.<i>,
# with an empty hashpart.<i>.sums beside it. Made before the archive arrives: once
# the flush of the new files has begun, creating a file on the same file system can
# wait for it, and the hashers must not.
split_for_hashing() {
    parts=$(nproc 2>/dev/null || echo 1)
    case "$parts" in ''|*[!0-9]*) parts=1 ;; esac
    [ "$parts" -gt 4 ] && parts=4
    [ "$parts" -lt 1 ] && parts=1
    awk -v parts="$parts" -v out="$work/hashpart." '
        NR == FNR { len[FNR] = $1; total += $1; next }
        { part = int(before * parts / (total + 1)); print > (out part); before += len[FNR] }' \
        "$work/newlens" "$work/newdests"
    i=0
    while [ "$i" -lt "$parts" ]; do
        [ -f "$work/hashpart.$i" ] && : > "$work/hashpart.$i.sums"
        i=$((i + 1))
    done
}

# Starts a hasher per list of split_for_hashing, in the background (pids in $hashers).
start_hashers() { # tool
    hashers='' i=0
    while [ "$i" -lt "$parts" ]; do
        if [ -f "$work/hashpart.$i" ]; then
            hash_files "$1" < "$work/hashpart.$i" >> "$work/hashpart.$i.sums" &
            hashers="$hashers $!"
        fi
        i=$((i + 1))
    done
}

# Waits for the hashers; the digests of the new files, in order, into sums.new.
collect_hashes() {
    for pid in $hashers; do wait "$pid"; done
    hashers=''
    i=0
    while [ "$i" -lt "$parts" ]; do
        [ -f "$work/hashpart.$i.sums" ] && cat "$work/hashpart.$i.sums"
        i=$((i + 1))
    done > "$work/sums.new"
}

# Checks that the files named in $1 hold the digests in $2 (same order).
files_match() { # names digests
    if command -v openssl >/dev/null 2>&1; then
        hash_files openssl < "$1" > "$work/sums.got"
        cmp -s "$2" "$work/sums.got" && return 0
    fi
    hash_files sha256sum < "$1" > "$work/sums.got"
    cmp -s "$2" "$work/sums.got"
}

# Unpacks the archive of new files (T record): tar when the pod has it, else the
# same ustar stream read with head alone. The archive is exactly what ccpod wrote,
# one member a P payload in order, and tar must not read past it. GNU tar reading
# "-f -" fills every record before it looks at it and stops at the record that ends
# the archive, so given a record that divides the archive it reads the archive
# straight from the request, exactly (no copy in between: a third less CPU for the
# bytes of a first push). Any other tar, or another length, gets the archive
# through dd (or head), which bounds it.
# The new files are flushed before anything is placed, while they are hashed (when
# the request came plain: a compressed one is checked by its decompressor). Many
# files on a pod where little else waits to be written: their file systems are
# flushed (once per file system, not once per file), again and again while the
# archive arrives, so the disk writes overlap the transfer. Otherwise each file is
# flushed itself, so a pod busy writing (a training run's checkpoints) never makes
# ccpod wait for its data.
take_archive() {
    IFS="$TAB" read -r kind size || fail "the request ended early"
    [ "$kind" = T ] || fail "unknown request record"
    case "$size" in ''|*[!0-9]*) fail "unknown request record" ;; esac
    [ -n "$checked_by" ] && [ "$size" -ge 4194304 ] && enlarge_pipe 0
    # A compressed request is checked whole by its decompressor (see the end of this
    # script): the new files are not hashed again here then.
    if [ -z "$checked_by" ]; then
        tool=sha256sum
        command -v openssl >/dev/null 2>&1 && tool=openssl
        split_for_hashing
    fi
    flusher='' byfs=no
    if [ "$(wc -l < "$work/newdests")" -gt 32 ] &&
        [ "$(awk '/^(Dirty|Writeback):/ { s += $2 } END { print s + 0 }' /proc/meminfo 2>/dev/null || echo 1048576)" -lt 131072 ] &&
        (cd "$base" && xargs -d '\n' stat -f -c "%i$TAB%n" -- < "$work/stages") > "$work/filesystems" 2>/dev/null; then
        byfs=yes
        sort -u -t "$TAB" -k1,1 "$work/filesystems" | cut -f 2- > "$work/flush"
        : > "$work/receiving"
        (
            cd "$base" || exit 0
            while [ -e "$work/receiving" ]; do
                xargs -d '\n' sync -f -- < "$work/flush"
                sleep 0.2 || sleep 1
            done
        ) > /dev/null 2>&1 &
        flusher=$!
    fi
    blocks=''
    if command -v tar >/dev/null 2>&1; then
        case "$(tar --version 2>/dev/null)" in
            "tar (GNU tar) "*)
                if [ $((size % 204800)) -eq 0 ]; then blocks=400
                elif [ $((size % 10240)) -eq 0 ]; then blocks=20
                fi ;;
        esac
    fi
    if [ -n "$blocks" ]; then
        (cd "$base" && exec tar -x -m -o -b "$blocks" -f -) || fail "cannot unpack the new files in $base on the pod"
    elif command -v tar >/dev/null 2>&1; then
        # GNU dd copies it in 1 MiB blocks (head in 8 KiB ones: a third more CPU).
        if dd if=/dev/null of=/dev/null bs=1048576 iflag=fullblock,count_bytes count=0 status=none 2>/dev/null; then
            dd bs=1048576 iflag=fullblock,count_bytes count="$size" status=none
        else
            head -c "$size"
        fi | { (cd "$base" && tar -x -m -o -f -); ok=$?; cat > /dev/null; exit $ok; } ||
            fail "cannot unpack the new files in $base on the pod"
    else
        unpack_plain "$size"
    fi
    # Hashed from the page cache at once, while the rest goes on and the disk catches up.
    [ -z "$checked_by" ] && start_hashers "$tool"
    if [ -n "$flusher" ]; then
        rm -f "$work/receiving"
        kill "$flusher" 2>/dev/null
    fi
    # The digests of what ccpod sent (hashed as it went), one a new file in order;
    # the file records get theirs too (a file the pod already has is compared by it).
    IFS="$TAB" read -r kind n || fail "the request ended early"
    [ "$kind" = H ] || fail "unknown request record"
    case "$n" in ''|*[!0-9]*) fail "unknown request record" ;; esac
    # One awk checks them (as many as the new files, each 64 hex digits) and merges them.
    head -c "$n" > "$work/sums.want.new"
    awk -F "$TAB" -v OFS="$TAB" '
        FILENAME == ARGV[1] { news++; next }
        FILENAME == ARGV[2] { if (length($0) != 64 || /[^0-9a-f]/) bad = 1; h[++sums] = $0; next }
        bad || sums != news { exit }
        $6 == "P" { $8 = h[++i] }
        { print }
        END { exit (bad || sums != news) }' \
        "$work/newdests" "$work/sums.want.new" "$work/known" > "$work/known.new" ||
        fail "the digests of the new files do not match the archive"
    mv "$work/known.new" "$work/known"
    if [ "$byfs" = yes ]; then
        (cd "$base" && xargs -d '\n' sync -f -- < "$work/flush") > /dev/null 2>&1 &
    else
        xargs -d '\n' sync -- < "$work/newdests" > /dev/null 2>&1 &
    fi
    flushing=$!
    [ -z "$checked_by" ] && collect_hashes
    wait "$flushing" || fail "cannot flush the new files in $base on the pod"
}

# The archive read without tar: per member a 512-byte header (after a pax header
# and its data when the name is long), the data, zeros up to the next 512 bytes.
unpack_plain() { # size
    left=$1
    while IFS="$TAB" read -r rel _ _ _ _ op len _ _ <&4; do
        [ "$op" = P ] || continue
        head -c 512 > "$work/header"
        left=$((left - 512))
        if [ "$(tail -c +157 "$work/header" | head -c 1)" = x ]; then
            n=$((0$(tail -c +125 "$work/header" | head -c 11)))
            n=$(( (n + 511) / 512 * 512 + 512 ))
            head -c "$n" > /dev/null
            left=$((left - n))
        fi
        pad=$(( (512 - len % 512) % 512 ))
        stage_path "$rel"
        { mkdir -p "${staged%/*}" && head -c "$len" > "$staged"; } || fail "cannot write the new files in $base on the pod"
        head -c "$pad" > /dev/null
        left=$((left - len - pad))
    done 4< "$work/payloads"
    [ "$left" -ge 0 ] || fail "the archive of new files is damaged"
    head -c "$left" > /dev/null
}

# Reads the file records (B) and their payloads. New files' payloads come in one
# archive and wait in this run's stage folders (see stage_path) until they are
# verified, flushed and moved into place; other payloads go to the work folder.
take_records() { # n
    head -c "$1" > "$work/block"
    # One awk reads the records: every one well formed (9 fields, the first K, a path),
    # no path absolute or climbing out with ".."; then each with its path moved first
    # and its number last (known: path seenSize seenMtime ancSize ancHash op len sha
    # idx); those with bytes to take, and every new file (an empty one is in the
    # archive too), in payloads. Of these: names, expected digests and paths of the
    # payloads here (dests, sums.want, rels; with their lengths in payloads.split);
    # names, paths and lengths of the new files in the archive after them (newdests,
    # newrels, newlens; their digests follow the archive: take_archive), and their
    # stage folders (stages: one per first folder of their paths).
    # (The lists made by awk at once, as stage_path would: there may be thousands,
    # and sh reads a line a byte at a time.)
    base="$root$claude"
    awk -F "$TAB" -v OFS="$TAB" -v base="$base" -v stage="$stage" -v w="$work" '
        NF != 9 || $1 != "K" || $9 == "" { exit 11 }
        $9 ~ /^\// || $9 ~ /^\.\.(\/|$)/ || $9 ~ /\/\.\.(\/|$)/ { exit 12 }
        {
            p = $9; $9 = NR; $1 = p
            print > (w "/known")
        }
        $7 == "0" && $6 != "P" { next }
        { print > (w "/payloads") }
        $7 !~ /^[0-9]+$/ { exit 11 }
        $6 == "P" {
            i = index($1, "/")
            print (i ? base "/" substr($1, 1, i - 1) "/" stage "/" substr($1, i + 1) : base "/" stage "/" $1) > (w "/newdests")
            print $1 > (w "/newrels")
            print $7 > (w "/newlens")
            s = i ? "./" substr($1, 1, i - 1) "/" stage : "./" stage
            if (!(s in staged)) { staged[s] = 1; print s > (w "/stages") }
            next
        }
        {
            print w "/p." $9 > (w "/dests")
            print $8 > (w "/sums.want")
            print $1 > (w "/rels")
            print $7 "\t" w "/p." $9 > (w "/payloads.split")
        }' "$work/block"
    case $? in
        0) ;;
        12) fail "unsafe path in request" ;;
        *) fail "unknown request record" ;;
    esac
    [ -s "$work/payloads" ] || return 0
    [ -n "$claude" ] || fail "request names no Claude dir"
    [ -d "$base" ] || mkdir -p "$base" || fail "cannot create $base on the pod"
    # The stage folders, made at once.
    if [ -s "$work/stages" ]; then
        (cd "$base" && xargs -d '\n' mkdir -p --) < "$work/stages" || fail "cannot create folders in $base on the pod"
    fi
    : >> "$work/newdests"
    : >> "$work/newrels"
    : >> "$work/newlens"
    : >> "$work/dests"
    : >> "$work/sums.want"
    : >> "$work/rels"
    : >> "$work/payloads.split"
    # Their bytes, back to back: one perl reads them all (exactly their total) where
    # the pod has it and there are several, else one head each. A perl that fails
    # before it made the first file never ran (a broken install) and read nothing:
    # then head takes them, and this run goes on without perl.
    reader='head'
    if [ "$has_perl" = yes ] && { read -r _ && read -r _; } < "$work/payloads.split"; then
        IFS="$TAB" read -r _ first < "$work/payloads.split"
        reader=perl
        if ! perl -e "$split_payloads_pl" "$work/payloads.split" 2>/dev/null; then
            [ -e "$first" ] && fail "cannot write the payloads in $work on the pod"
            reader='head' has_perl=no
        fi
    fi
    if [ "$reader" = head ]; then
        while IFS="$TAB" read -r len p <&4; do
            head -c "$len" > "$p" || fail "cannot write $p on the pod"
        done 4< "$work/payloads.split"
    fi
    [ -s "$work/newdests" ] && take_archive
    # The payloads' digests are checked here only when the request came plain: a
    # compressed one is checked whole by its decompressor (see checked_by), and ccpod
    # hashed these payloads again as it sent them, so what arrives is what was named.
    if [ -s "$work/dests" ] && [ -z "$checked_by" ] && ! files_match "$work/dests" "$work/sums.want"; then
        damaged "$work/rels" "$work/sums.want" "$work/sums.got"
    fi
    if [ -s "$work/newdests" ] && [ -z "$checked_by" ] && ! cmp -s "$work/sums.want.new" "$work/sums.new" &&
        ! files_match "$work/newdests" "$work/sums.want.new"; then
        damaged "$work/newrels" "$work/sums.want.new" "$work/sums.got"
    fi
}

# Stops at the first payload whose digest is not the one ccpod sent.
damaged() { # rels wanted got
    paste "$2" "$3" "$1" | while IFS="$TAB" read -r want got rel; do
        [ "$want" = "$got" ] || { printf '%s\n' "$rel"; break; }
    done > "$work/damaged"
    IFS= read -r rel < "$work/damaged"
    fail "payload for $rel is damaged"
}

# --- request ------------------------------------------------------------------

# One agent at a time works on this pod's Claude dir (two laptops, or two ccpods
# with state dirs of their own): an exclusive lock held until the agent exits. With
# flock(1) the kernel drops it when the agent dies (a lost connection ends the agent
# with SIGHUP); without, a folder holding the holder's pid, taken over once that
# process is gone. Waiting is bounded, and the keepalive tells ccpod meanwhile that
# the agent is alive.
lock_dir=''
take_lock() { # folder
    locked=yes
    [ -d "$1" ] || mkdir -p "$1" 2>/dev/null || return 0
    if command -v flock >/dev/null 2>&1; then
        exec 9>>"$1/agent.lock" || return 0
        flock -w 600 9 || fail "another ccpod has been working on this pod's Claude dir for 10 minutes; try again later"
        flocked=yes
        return 0
    fi
    waited=0
    until mkdir "$1/agent.lock.d" 2>/dev/null; do
        holder=$(cat "$1/agent.lock.d/pid" 2>/dev/null) || holder=''
        if [ -n "$holder" ] && ! kill -0 "$holder" 2>/dev/null; then
            rm -rf "$1/agent.lock.d"
            continue
        fi
        # A holder that died before it wrote its pid: the folder is left a minute old.
        if [ -z "$holder" ] && [ -n "$(find "$1/agent.lock.d" -maxdepth 0 -mmin +1 2>/dev/null)" ]; then
            rm -rf "$1/agent.lock.d"
            continue
        fi
        [ "$waited" -lt 600 ] || fail "another ccpod has been working on this pod's Claude dir for 10 minutes; try again later"
        sleep 1
        waited=$((waited + 1))
    done
    printf '%s\n' "$$" > "$1/agent.lock.d/pid"
    lock_dir="$1/agent.lock.d"
}

# Removes the work folder and whatever this run staged and did not place.
cleanup() {
    # ccpod stops the exchange (SIGTERM) once it has read a failure: that must not
    # cut this short and leave a stage folder behind.
    trap '' HUP INT TERM
    # Hashers still running (a run that failed after the archive) finish first, so
    # nothing writes into the work folder while it is removed.
    for pid in $hashers $scanner; do wait "$pid" 2>/dev/null; done
    stop_keepalive
    remove_stages
    # The answer is whole by now. Under flock the work folder (in /tmp, out of every
    # scan) is removed in the background, holding the lock (fd 9) until it is gone:
    # the connection closes at once, and the next agent waits for it.
    if [ "$flocked" = yes ]; then
        { rm -rf "$work"; } < /dev/null > /dev/null 2>&1 &
    else
        rm -rf "$work"
        [ -n "$lock_dir" ] && rm -rf "$lock_dir"
    fi
}

# Removes this run's stage folders (empty once their files are placed); forgets them.
remove_stages() {
    if [ -n "$base" ] && [ -s "$work/stages" ]; then
        (cd "$base" 2>/dev/null && xargs -r -d '\n' rm -rf -- < "$work/stages")
        : > "$work/stages"
    fi
}

# A small request (ccpod says so: option early) takes the lock as soon as its
# options and scope are read, and the journal's recovery and the scan then run
# beside the reading of its records and payloads (see scan_pod; main waits for
# them). A large one takes the lock once it has arrived whole, so an upload of
# minutes never keeps another ccpod waiting on this pod.
start_early() {
    early=0
    [ -n "$claude" ] || return 0
    base="$root$claude"
    jdir="$root$state/journal"
    [ -n "$state" ] && take_lock "$root$state"
    { recover_journal; scan_pod; } < /dev/null > /dev/null 2>&1 &
    scanner=$!
}

run_agent() {
root='' claude='' state='' mode=status busy=5 accept=none base='' hashers='' hashed='' overview=0 dd_bytes=
early=0 locked=no flocked=no scanner='' scanned=no
# The work folder: a name no one has (mkdir makes it or fails, a link in its place
# too), private (umask 077); no mktemp process. Made before the request's first line
# is read: the request's bytes come one round trip after the agent starts (sshd opens
# the channel's window only once the command runs), and its mkdir fits in that wait.
n=0
until work="${TMPDIR:-/tmp}/ccpod-agent.$$.$n" && mkdir "$work" 2>/dev/null; do
    n=$((n + 1))
    [ "$n" -lt 64 ] || fail "cannot create a temporary folder in ${TMPDIR:-/tmp} on the pod"
done
# This run's stage folders (see stage_path), hidden from every scan; ccpod names
# them (option stage) when its archive of new files is to land there.
stage=".${work##*/}.ccpod-stage"
trap 'cleanup' EXIT
trap 'exit 3' HUP INT TERM
: > "$work/known"
: > "$work/scope"
: > "$work/ids"
: > "$work/renames"
: > "$work/stages"
: > "$work/noted"
IFS= read -r hello || fail "empty request"
case "$hello" in
    "CCPOD-REQ $PROTOCOL") ;;
    *) fail "unexpected request header" ;;
esac
ended=no
while IFS="$TAB" read -r kind a b; do
    case "$kind" in
        O)
            case "$a" in
                root) root=$b ;; claude) claude=$b ;; state) state=$b ;;
                mode) mode=$b ;; busy) busy=$b ;; accept) accept=$b ;;
                hashed) hashed="$hashed$b$NL" ;;
                overview) [ "$b" = 1 ] && overview=1 ;;
                early) [ "$b" = 1 ] && early=1 ;;
                stage)
                    case "$b" in
                        *[!0-9a-z]*|'') fail "unknown request record" ;;
                    esac
                    stage=".ccpod-$b.ccpod-stage" ;;
            esac ;;
        S) printf '%s\n' "$a" >> "$work/scope" ;;
        I)
            case "$a" in ''|*[!0-9]*) fail "unknown request record" ;; esac
            head -c "$a" >> "$work/ids" ;;
        B)
            case "$a" in ''|*[!0-9]*) fail "unknown request record" ;; esac
            [ "$early" = 1 ] && start_early
            take_records "$a" ;;
        END) [ "$early" = 1 ] && start_early; ended=yes; break ;;
        *) fail "unknown request record" ;;
    esac
done
[ "$ended" = yes ] || fail "the request ended early"
# A compressed request: its decompressor checked it whole when it ended (zstd an
# XXH64 of every byte of each frame, gzip a CRC-32 and the length), and only then
# adds this line. What arrived is then what ccpod sent (and hashed as it went), before
# anything is placed.
if [ -n "$checked_by" ]; then
    IFS= read -r checked || checked=''
    [ "$checked" = "C${TAB}checked" ] ||
        fail "the request reached the pod damaged (its $checked_by checksum does not match); nothing was changed; run the command again"
fi
[ -n "$claude" ] || fail "request names no Claude dir"
base="$root$claude"
jdir="$root$state/journal"
[ -n "$state" ] && [ "$locked" = no ] && take_lock "$root$state"
if [ -n "$scanner" ]; then
    wait "$scanner" || fail "cannot read the Claude dir $base on the pod"
    scanner='' scanned=yes
fi

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
# A pull's or a sync's answer carries files: its level follows the link where this
# zstd can (--adapt, 1.3.6 and later): denser while the link holds the answer back,
# lighter while compressing is what it waits for, between levels 1 and 9, in an 8 MB
# window (ccpod refuses more than 32 MB). On a 100 Mbit/s link a first pull of 200 MB
# sent 38.5 MB instead of 55.6. Other answers are small: level 3 as before.
# Not where ccpod runs on this machine (no ssh: local:, or sshd saw a loopback
# address): there the link is the machine's memory and zstd's CPU is ccpod's, so
# zstd, seeing ccpod read slowly, would climb and take CPU from ccpod's own decoding
# (a first pull on two shared cores was 5-10 % slower than at level 3).
level=-3 big=''
case "$mode" in pull|sync) big=1 ;; esac
case "$comp.$mode" in
    zstd.pull|zstd.sync)
        case "${SSH_CONNECTION%% *}" in
            ''|127.*|::1|::ffff:127.*) ;;
            *)
                adapt=--adapt=min=1,max=9
                zstd -q -3 "$adapt" --zstd=wlog=23 -c < /dev/null > /dev/null 2>&1 && level=$adapt ;;
        esac ;;
esac
case "$comp" in
    zstd)
        if [ "$level" = -3 ]; then { [ -z "$big" ] || enlarge_pipe 1; main; } | zstd -q -3 -T2 -c
        else { [ -z "$big" ] || enlarge_pipe 1; main; } | zstd -q -3 "$level" --zstd=wlog=23 -T2 -c
        fi ;;
    gzip) { [ -z "$big" ] || enlarge_pipe 1; main; } | gzip -1 -c ;;
    *) main ;;
esac
}

# Finish appends an earlier, interrupted exchange left in the journal: the
# file is at the old size (append again), part way (cut back, append again) or
# complete (nothing to do). Anything else is left alone and reported. An entry
# is <n>.meta + <n>.data (one append) or a run's folder: meta (a line per append,
# naming its data file there) and the data files.
recover_journal() {
    [ -d "$jdir" ] || return 0
    for meta in "$jdir"/*.meta "$jdir"/*/meta; do
        [ -f "$meta" ] || continue
        while IFS="$TAB" read -r rel anc len data <&4; do
            case "$data" in
                -|'') data=${meta%.meta}.data ;;
                */*) continue ;;
                *) data=${meta%/*}/$data ;;
            esac
            f="$base/$rel"
            if [ -f "$f" ] && [ -f "$data" ]; then
                size=$(wc -c < "$f" | tr -d ' ')
                if [ "$size" -ge "$anc" ] && [ "$size" -lt $((anc + len)) ]; then
                    truncate -s "$anc" "$f" && cat "$data" >> "$f"
                fi
            fi
        done 4< "$meta"
        case "$meta" in
            */meta) rm -rf "${meta%/*}" ;;
            *) rm -f "$meta" "${meta%.meta}.data" ;;
        esac
    done
    # A run's folder that was never armed (cut before its meta was in place).
    for run in "$jdir"/ccpod-agent.*; do
        [ -d "$run" ] && [ ! -f "$run/meta" ] && rm -rf "$run"
    done
}

# The appends of this run (file "appends": rel file offset len sha idx lines; lines
# is said back in the state, for the appends ccpod did not count: a first contact's
# fast-forward), through
# one journal entry: the payloads and the intents written and flushed first, then
# armed, then appended, then each checked (size, and its bytes against the
# verified payload); the entry keeps only the appends that could not be verified,
# for the next call to finish.
apply_appends() {
    [ -s "$work/appends" ] || return 0
    jrun="$jdir/${work##*/}"
    # From one pass (no process): the appended files, also the arguments (set --) of
    # find and sync below when their names are short enough together for one command
    # line (no xargs, no sh).
    names=0
    set --
    while IFS="$TAB" read -r rel f _ <&4; do
        printf '%s\n' "$f"
        set -- "$@" "$f"
        names=$((names + ${#f} + 1))
    done 4< "$work/appends" > "$work/append.files"
    # One perl journals, appends, checks and flushes them all (journal_append_pl);
    # what it did not check (it died part way) is reported failed and stays in the
    # journal. A perl that did not start (or died before it armed the journal, so
    # before it appended anything) leaves it to the processes below, without perl.
    how=''
    if [ "$has_perl" = yes ]; then
        perl -e "$journal_append_pl" "$work/appends" "$work" "$jrun" > "$work/append.out" 2>/dev/null
        IFS= read -r how < "$work/append.out" || how=''
    fi
    case "$how" in
        armed) same="$work/append.out" ;;
        unjournaled) journal_failed; return 0 ;;
        *) has_perl=no; append_with_tools || return 0 ;;
    esac
    # Their stats, one find for all (in order; a missing file is caught below).
    if [ "$names" -lt 65536 ]; then
        find -H "$@" -maxdepth 0 -printf "%s\t%T@\t%p\n" > "$work/appended" 2>/dev/null
    else
        xargs -d '\n' sh -c 'exec find -H "$@" -maxdepth 0 -printf "%s\t%T@\t%p\n"' ccpod-find \
            < "$work/append.files" > "$work/appended" 2>/dev/null
    fi
    set --
    : > "$work/append.left"
    : > "$work/append.done"
    {
        # (perl's answer: its first line says it armed the journal)
        [ "$how" = armed ] && IFS= read -r _ <&7
        while IFS="$TAB" read -r rel f anc len sha idx nl <&4; do
            IFS="$TAB" read -r size mtime p <&6 || p=''
            IFS= read -r ok <&7 || ok=-
            if [ "$p" = "$f" ] && [ "$size" = $((anc + len)) ] &&
                { [ "$ok" = 1 ] || { [ "$ok" = - ] && [ "$how" != armed ] && cmp -s "$f" "$jrun/p.$idx" "$anc" 0; }; }; then
                # (asked_hash inline: no subshell per file when none was asked.)
                h=-
                case "$NL$hashed" in *"$NL$rel$NL"*) h=$(sha_of_prefix "$f" "$size") ;; esac
                emit_state appended "$size" "$mtime" "$nl" "$h" "$rel"
                printf '%s\n' "$f" >> "$work/append.done"
                set -- "$@" "$f"
            elif [ "$ok" = 1 ]; then
                # Appended and checked, then written to again before its stat was taken.
                printf 'W\t%s changed on the pod as it was appended; the next call compares it again\n' "$rel"
                emit_state failed "${size:--}" - 0 - "$rel"
            else
                printf 'W\tappend to %s could not be verified; the journal will retry it\n' "$rel"
                emit_state failed "${size:--}" - 0 - "$rel"
                printf '%s\t%s\t%s\tp.%s\n' "$rel" "$anc" "$len" "$idx" >> "$work/append.left"
            fi
        done
    } 4< "$work/appends" 6< "$work/appended" 7< "$same"
    # perl flushed what it checked and kept the journal's rest itself.
    [ "$how" = armed ] && return 0
    if [ "$names" -lt 65536 ]; then
        [ $# -eq 0 ] || sync -- "$@" 2>/dev/null
    else
        xargs -r -d '\n' sync -- < "$work/append.done" 2>/dev/null
    fi
    if [ -s "$work/append.left" ]; then
        cp "$work/append.left" "$jrun/meta.tmp" && mv "$jrun/meta.tmp" "$jrun/meta"
    else
        rm -rf "$jrun"
    fi
}

# Each append of this run reported failed: its journal could not be made, and
# nothing was appended.
journal_failed() {
    while IFS="$TAB" read -r rel f _ <&4; do
        printf 'W\tcannot journal the append to %s on the pod; nothing was appended\n' "$rel"
        emit_state failed - - 0 - "$rel"
    done 4< "$work/appends"
    rm -rf "$jrun"
}

# The appends without perl: the journal written with cp and sync, armed with mv,
# then a cat each. Sets $same to /dev/null (each is checked with cmp). False when
# the journal cannot be made (each reported failed).
append_with_tools() {
    while IFS="$TAB" read -r rel f anc len sha idx nl <&4; do
        printf 'p.%s\n' "$idx"
        printf '%s\t%s\t%s\tp.%s\n' "$rel" "$anc" "$len" "$idx" >&5
    done 4< "$work/appends" > "$work/append.data" 5> "$work/meta.tmp"
    printf 'meta.tmp\n' >> "$work/append.data"
    if ! mkdir -p "$jrun" || ! (cd "$work" && xargs -d '\n' cp -t "$jrun" --) < "$work/append.data"; then
        journal_failed
        return 1
    fi
    (cd "$jrun" && sync -- p.* meta.tmp 2>/dev/null)
    mv "$jrun/meta.tmp" "$jrun/meta"
    # Armed: a cat each.
    same=/dev/null
    while IFS="$TAB" read -r rel f anc len sha idx nl <&4; do
        cat "$jrun/p.$idx" >> "$f"
    done 4< "$work/appends"
}

# Files only the pod has (file "sendnew": rel size mtime), for a pull: checked
# unchanged since the scan, then sent back to back as one batch at once, hashed
# beside the sending (from the page cache, on another core) instead of before it:
#   E <count> <total>, count D records with the hash "-", their total bytes, then
#   count H records, the digests in the same order; then their S records
# (the concatenation stays exactly total bytes long, zero-padded if a file shrank;
# the digests, read apart from the bytes sent, tell ccpod when a file changed
# meanwhile). When a file moved before the batch, each goes on its own.
send_new() {
    [ -s "$work/sendnew" ] || return 0
    sed 's|^\([^'"$TAB"']*\)'"$TAB"'.*|./\1|' "$work/sendnew" > "$work/sendnew.names"
    cut -f 2,3 "$work/sendnew" > "$work/sendnew.stat"
    # Each file's inode before the send: size, mtime, ctime (any write moves it, even
    # one that sets mtime back) and inode number.
    stat_new() {
        (cd "$base" && xargs -d '\n' sh -c 'exec find -H "$@" -maxdepth 0 -printf "%s\t%T@\t%C@\t%i\n"' ccpod-find \
            < "$work/sendnew.names" 2>/dev/null)
    }
    stat_new > "$work/sendnew.before"
    cut -f 1,2 "$work/sendnew.before" > "$work/sendnew.again"
    if cmp -s "$work/sendnew.stat" "$work/sendnew.again"; then
        count=$(wc -l < "$work/sendnew" | tr -d ' ')
        total=$(awk -F "$TAB" '{ s += $1 } END { printf "%.0f", s }' "$work/sendnew.stat")
        printf 'E\t%s\t%s\n' "$count" "$total"
        sed "s/^\([^${TAB}]*\)${TAB}\([^${TAB}]*\)${TAB}\([^${TAB}]*\)\$/D${TAB}0${TAB}\2${TAB}-${TAB}\1/" "$work/sendnew"
        # perl where the pod has it; one that fails leaves the answer short or misframed,
        # which ccpod refuses (the framing and every file's digest are checked there).
        # cat cannot say which file it could not read whole: then every file is hashed.
        : > "$work/sendnew.short"
        whole=no
        if [ "$has_perl" = yes ] && (cd "$base" && perl -e "$send_files_pl" "$work/sendnew" "$work/sendnew.short" 2>/dev/null); then
            whole=yes
        else
            (cd "$base" && { xargs -d '\n' cat -- < "$work/sendnew.names" 2>/dev/null; head -c "$total" /dev/zero; } | copy_bytes "$total")
        fi
        # A file read whole whose inode did not move while it was sent is what ccpod got:
        # "=" (ccpod keeps the digest it computed as the bytes arrived). Any other is
        # hashed now, and ccpod refuses the answer unless that digest is what it got
        # ("-": the file can no longer be read). One find after the send instead of
        # hashing every file again.
        stat_new > "$work/sendnew.after"
        if [ "$whole" = yes ] && [ ! -s "$work/sendnew.short" ] && cmp -s "$work/sendnew.before" "$work/sendnew.after"; then
            sed 's/.*/=/' "$work/sendnew" > "$work/sendnew.h"
        else
            # (a file gone since gives no line: it and those after it count as moved)
            awk -v want="$count" -v whole="$whole" '
                FILENAME == ARGV[1] { a[FNR] = $0; next }
                FILENAME == ARGV[2] { b[FNR] = $0; next }
                { short[$1] = 1 }
                END {
                    for (i = 1; i <= want; i++)
                        print (whole == "yes" && !(i in short) && (i in a) && (i in b) && a[i] == b[i]) ? "=" : "moved"
                }' "$work/sendnew.before" "$work/sendnew.after" "$work/sendnew.short" > "$work/sendnew.moved"
            paste "$work/sendnew.moved" "$work/sendnew.names" | sed -n "s/^moved${TAB}//p" > "$work/sendnew.tohash"
            tool=sha256sum
            command -v openssl >/dev/null 2>&1 && tool=openssl
            (cd "$base" && hash_files "$tool" < "$work/sendnew.tohash" > "$work/sendnew.tohash.sums")
            awk -v sums="$work/sendnew.tohash.sums" '$0 == "=" { print "="; next }
                { if ((getline d < sums) > 0) print d; else print "-" }' "$work/sendnew.moved" > "$work/sendnew.h"
        fi
        # Exactly count digests.
        awk -v n="$count" -v T="$TAB" 'NR <= n { print "H" T $0 } END { for (i = NR; i < n; i++) print "H" T "-" }' "$work/sendnew.h"
        sed 's/^=$/-/' "$work/sendnew.h" | paste - "$work/sendnew" |
            sed "s/^\([^${TAB}]*\)${TAB}\([^${TAB}]*\)${TAB}\([^${TAB}]*\)${TAB}\([^${TAB}]*\)\$/S${TAB}new${TAB}\3${TAB}\4${TAB}0${TAB}\1${TAB}\2/"
    else
        while IFS="$TAB" read -r rel size mtime <&4; do
            emit_state new "$size" "$mtime" 0 "$(sha_of_prefix "$base/$rel" "$size")" "$rel"
            emit_data "$rel" "$base/$rel" 0 "$size"
        done 4< "$work/sendnew"
    fi
}

# Moves what waits in a stage folder into its target folder: a name the target
# lacks goes over in one rename (a whole new folder at once), a folder the target
# has is merged the same way. One mv per target folder; each target named in
# moved.into. Relative names, so no length limit trouble.
merge_stage() { # staged target
    for e in "$1"/* "$1"/.[!.]* "$1"/..?*; do
        [ -e "$e" ] || [ -L "$e" ] || continue
        if [ -d "$e" ] && [ ! -L "$e" ] && [ -d "$2/${e##*/}" ]; then
            (merge_stage "$e" "$2/${e##*/}")
        else
            set -- "$@" "$e"
        fi
    done
    [ $# -gt 2 ] || return 0
    t=$2
    shift 2
    mv -f -t "$t" -- "$@" 2>/dev/null
    printf '%s\n' "$t" >> "$work/moved.into"
}

# New files (staged, file "placed"; flushed as they arrived) and replaced ones
# (file "renames": temp, target, rel; flushed here): renamed into place, the staged
# ones with one mv per folder that gains names; their stats come from one find.
place_files() {
    [ -s "$work/unstage" ] && xargs -r -d '\n' rm -f -- < "$work/unstage"
    [ -s "$work/placed" ] || [ -s "$work/renames" ] || return 0
    # Flushed before they are renamed (the new files as they arrived).
    cut -f 1 "$work/renames" | xargs -r -d '\n' sync -- 2>/dev/null
    if [ -s "$work/placed" ]; then
        : > "$work/moved.into"
        while IFS= read -r s <&4; do
            (cd "$base" && merge_stage "$s" "${s%/*}")
        done 4< "$work/stages"
        # The folders that gained names, so the renames survive a crash.
        (cd "$base" && sort -u "$work/moved.into" | xargs -r -d '\n' sync --) 2>/dev/null
        (cd "$base" && sed 's|^|./|' "$work/placed" |
            xargs -d '\n' sh -c 'exec find -H "$@" -maxdepth 0 -printf "S\twritten\t%s\t%T@\t0\t-\t%p\n"' ccpod-find 2>/dev/null) |
            sed "s|$TAB\\./|$TAB|"
    fi
    while IFS="$TAB" read -r tmp target rel <&4; do
        # shellcheck disable=SC2046
        mv "$tmp" "$target" && set -- $(stat_of "$target") && emit_state written "$1" "$2" 0 - "$rel"
    done 4< "$work/renames"
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

# The session a path belongs to, as ccpod tells it (SyncScope.sessionId): the
# transcript's name, the first folder below its project (subagents, tool results),
# file-history/<id>, tasks/<id>, the first 36 characters of todos/<name>. Sets $sid
# (empty when none; no subshell: called per file).
session_of() { # rel
    sid=''
    case "$1" in
        projects/*/*) sid=${1#projects/*/}; sid=${sid%%/*}; sid=${sid%.jsonl} ;;
        file-history/*/*|tasks/*/*) sid=${1#*/}; sid=${sid%%/*} ;;
        todos/*.json) sid=${1#todos/}; sid=${sid%"${sid#????????????????????????????????????}"} ;;
    esac
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

# The files in scope on the pod (file "pod": ./path TAB size TAB mtime a line): the
# scope folders ccpod names (file "scope") and the per-session folders of the
# sessions in scope (ccpod's, file "ids", and the pod's own).
scan_pod() {
    if [ -d "$base" ]; then
        cd "$base" || exit 3
        while IFS= read -r dir; do
            [ -d "$dir" ] || continue
            for t in "$dir"/*.jsonl; do
                [ -f "$t" ] || continue
                t=${t##*/}
                printf '%s\n' "${t%.jsonl}"
            done
        done < "$work/scope" >> "$work/ids"
        # file-history/<id>, tasks/<id> and todos/<id>…json (the id: its first 36
        # characters, as ccpod reads them), found at once and joined with the ids; the
        # scope without repeats, the folders that exist (one find below for all).
        find -L file-history tasks todos -mindepth 1 -maxdepth 1 \( -path 'todos/*' -type f -name '*.json' -printf '%p\n' \
            -o ! -path 'todos/*' -type d -printf '%p\n' \) 2>/dev/null |
            awk -v ids="$work/ids" -v scope="$work/scope" '
                BEGIN {
                    while ((getline l < ids) > 0) id[l] = 1
                    while ((getline l < scope) > 0) if (!(l in seen)) { seen[l] = 1; print l }
                }
                {
                    k = substr($0, index($0, "/") + 1)
                    if (substr($0, 1, 6) == "todos/") k = substr(k, 1, 36)
                    if ((k in id) && !($0 in seen)) { seen[$0] = 1; print }
                }' > "$work/scope.all"
        set --
        while IFS= read -r dir; do
            [ -e "$dir" ] && set -- "$@" "./$dir"
        done < "$work/scope.all"
        # Stat of every file in scope, one find for all of them (stage folders left out).
        if [ $# -gt 0 ]; then
            find -H "$@" -name ".*.ccpod-*" -prune -o -type f ! -name "*$NL*" -printf '%p\t%s\t%T@\n' 2>/dev/null
        fi
        cd / || exit 3
    fi > "$work/pod"
}

main() {
    # (Already done, with the scan, when the lock was taken early: see start_early.)
    [ "$scanned" = yes ] || recover_journal
    # The autostop watchdog's note (it stopped the pod; Pod/autostop.sh), passed on once.
    a_dir="$root${state%/.ccpod}/autostop"
    if [ -n "$state" ] && [ -f "$a_dir/note" ] && [ -f "$a_dir/autostop.sh" ]; then
        sh "$a_dir/autostop.sh" deliver "$a_dir" </dev/null 2>/dev/null | head -n 1 | sed "s/^/W$TAB/"
    fi

    # Sessions that ended on the pod, as ccpod's hook recorded them (Hooks/PodHooks.swift:
    # "TIME SESSION-ID" lines), passed on once by a pull or sync: moved aside first.
    e_file="$root$state/ended-sessions"
    if [ -n "$state" ] && [ -f "$e_file" ] && [ ! -L "$e_file" ]; then
        case "$mode" in pull|sync)
            if mv -f "$e_file" "$e_file.sent" 2>/dev/null; then
                tail -n 50 "$e_file.sent" | sed -n "s/^\([0-9][0-9TZ:-]*\) \([0-9a-fA-F-]\{36\}\)\$/W${TAB}hook-ended \2 \1/p"
            fi ;;
        esac
    fi

    # Sessions a running claude has open: <claude>/sessions/<pid>.json with a live pid.
    # One awk reads every registry (its first pid and sessionId, on any lines), however
    # many a pod's claudes left: not two seds and two heads each. Only regular files (a
    # fifo there would hold awk forever), named in a list (no limit on their number).
    busy_ids=' '
    : > "$work/registry.files"
    for reg in "$base"/sessions/*.json; do
        [ -f "$reg" ] && printf '%s\n' "$reg" >> "$work/registry.files"
    done
    if [ -s "$work/registry.files" ]; then
        awk -v list="$work/registry.files" '
            BEGIN {
                while ((getline f < list) > 0) {
                    pid = ""; sid = ""
                    while ((pid == "" || sid == "") && (getline l < f) > 0) {
                        if (pid == "" && match(l, /"pid"[ ]*:[ ]*[0-9]+/)) {
                            pid = substr(l, RSTART, RLENGTH); sub(/^"pid"[ ]*:[ ]*/, "", pid)
                        }
                        if (sid == "" && match(l, /"sessionId"[ ]*:[ ]*"[^"]*"/)) {
                            sid = substr(l, RSTART, RLENGTH); sub(/^"sessionId"[ ]*:[ ]*"/, "", sid); sub(/"$/, "", sid)
                        }
                    }
                    close(f)
                    if (pid != "" && sid != "") print pid "\t" sid
                }
            }' 2>/dev/null > "$work/registry"
        while IFS="$TAB" read -r pid sid; do
            if kill -0 "$pid" 2>/dev/null; then busy_ids="$busy_ids$sid "; fi
        done < "$work/registry"
    fi
    now=$(date +%s)
    registry=no
    [ -d "$base/sessions" ] && registry=yes

    [ "$scanned" = yes ] || scan_pod
    # The files ccpod names (known) joined with the pod's (pod): a line each, known
    # ones first, in the columns the loop below reads (seen size and mtime, size and
    # mtime here, op, path, ancestor size and hash, length, digest, index; "-" where a
    # side has none).
    # Files whose pod stat is the one ccpod saw last time: only checked, nothing to
    # say; appended, the append goes to the list (appends) at once.
    # New files the pod has no trace of (a first push's hundreds) are placed as they
    # are, unless the name exists after all (outside the scanned folders) or is a
    # link: one test for all of them; the loop below sees only the others.
    # Files only the pod has that a pull or sync sends (a first pull's hundreds), not
    # busy (as the loop below decides: session_of, busy_ids, the registry, $busy
    # seconds), go to sendnew at once, in order; the loop sees only the others.
    : > "$work/sendnew"
    : > "$work/appends"
    : > "$work/news.rows"
    awk -F "$TAB" -v OFS="$TAB" -v T="$TAB" -v base="$base" -v w="$work" -v known="$work/known" -v mode="$mode" \
        -v busy_ids="$busy_ids" -v registry="$registry" -v now="$now" -v busy="$busy" '
        function session_of(rel,    parts, n, sid) {
            n = split(rel, parts, "/")
            sid = ""
            if (parts[1] == "projects" && n >= 3) { sid = parts[3]; sub(/\.jsonl$/, "", sid) }
            else if ((parts[1] == "file-history" || parts[1] == "tasks") && n >= 3) sid = parts[2]
            else if (substr(rel, 1, 6) == "todos/" && rel ~ /\.json$/ && length(rel) >= 42) sid = substr(rel, 7, 36)
            return sid
        }
        function out(r,    f, sid, is_busy, secs) {
            split(r, f, T)
            # (Sizes and mtimes compared as strings: "" forces it.)
            if (f[5] == "C" && f[1] != "-" && f[1] "" == f[3] "" && f[2] "" == f[4] "") return
            if (f[5] == "A" && f[3] != "-" && f[1] "" == f[3] "" && f[2] "" == f[4] "") {
                print f[6], base "/" f[6], f[7], f[9], f[10], f[11], 0 > (w "/appends")
                return
            }
            if (f[5] == "P" && f[3] == "-") { print f[6] > (w "/news"); print r > (w "/news.rows"); return }
            if (f[5] == "-" && f[3] != "-" && (mode == "pull" || mode == "sync")) {
                sid = session_of(f[6])
                is_busy = sid != "" && index(busy_ids, " " sid " ") > 0
                if (!is_busy && (registry == "no" || length(sid) != 36)) {
                    secs = f[4]
                    sub(/\..*/, "", secs)
                    if (now - secs < busy) is_busy = 1
                }
                if (!is_busy) { print f[6], f[3], f[4] > (w "/sendnew"); return }
            }
            print r
        }
        # known: path seenSize seenMtime ancSize ancHash op len sha idx
        BEGIN { while ((getline l < known) > 0) k[++nk] = l }
        # pod: ./path size mtime (the first of a path found twice)
        {
            p = $1
            if (substr(p, 1, 2) == "./") p = substr(p, 3)
            if (!(p in size)) { size[p] = $2; mtime[p] = $3; order[++np] = p }
        }
        END {
            for (i = 1; i <= nk; i++) {
                split(k[i], f, T)
                there = f[1] in size
                named[f[1]] = 1
                out(f[2] T f[3] T (there ? size[f[1]] : "-") T (there ? mtime[f[1]] : "-") T f[6] T f[1] T f[4] T f[5] T f[7] T f[8] T f[9])
            }
            for (i = 1; i <= np; i++)
                if (!(order[i] in named)) out("-" T "-" T size[order[i]] T mtime[order[i]] T "-" T order[i] T "-" T "-" T "-" T "-" T "-")
        }' "$work/pod" > "$work/joined"
    : > "$work/placed"
    if [ -s "$work/news" ]; then
        # shellcheck disable=SC2016
        (cd "$base" && xargs -d '\n' sh -c '
            for r; do
                if [ -e "$r" ] || [ -L "$r" ]; then printf "%s\n" "$r" >&3; else printf "%s\n" "$r"; fi
            done' ccpod-new < "$work/news" > "$work/placed" 3> "$work/news.there")
        if [ -s "$work/news.there" ]; then
            awk -F "$TAB" 'NR == FNR { there[$0] = 1; next } $6 in there' "$work/news.there" "$work/news.rows" >> "$work/joined"
        fi
    fi

    : > "$work/unstage"
    while IFS="$TAB" read -r seen_size seen_mtime size mtime op rel anc anc_sha len sha idx; do
        f="$base/$rel"
        # A file ccpod names outside the scanned folders is looked at directly.
        if [ "$size" = - ] && [ "$op" != - ] && [ -f "$f" ]; then
            st=$(stat_of "$f")
            size=${st%%"$TAB"*}
            mtime=${st#*"$TAB"}
        fi
        # A new file's payload waits in its stage folder; it stays out unless the pod has none.
        if [ "$op" = P ] && [ "$size" != - ]; then
            stage_path "$rel"
            printf '%s\n' "$staged" >> "$work/unstage"
        fi
        if [ "$op" = M ]; then
            merge_lines "$rel" "$f" "$size" "$seen_size" "$seen_mtime" "$anc" "$anc_sha" "$len" "$idx"
            continue
        fi
        # Busy: a session a running claude holds; where claude keeps its registry of
        # running sessions, a session none holds is not, however recent (the claude that
        # wrote it exited); anything else changed in the last $busy seconds is.
        is_busy=no
        if [ "$size" != - ]; then
            session_of "$rel"
            case "$busy_ids" in *" $sid "*) [ -n "$sid" ] && is_busy=yes ;; esac
            if [ "$is_busy" = no ] && { [ "$registry" = no ] || [ "${#sid}" -ne 36 ]; }; then
                secs=${mtime%.*}
                [ $((now - secs)) -lt "$busy" ] && is_busy=yes
            fi
        fi
        if [ "$op" = - ]; then
            # Only on the pod.
            [ "$is_busy" = yes ] && { emit_state busy "$size" "$mtime" 0 - "$rel"; continue; }
            case "$mode" in
                pull|sync) printf '%s\t%s\t%s\n' "$rel" "$size" "$mtime" >> "$work/sendnew" ;;
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
                stage_path "$rel"
                if [ -L "$base/$rel" ]; then
                    if mkdir -p "${f%/*}" && mv "$staged" "$f.ccpod-new"; then
                        printf '%s\t%s\t%s\n' "$f.ccpod-new" "$f" "$rel" >> "$work/renames"
                    else
                        printf '%s\n' "$staged" >> "$work/unstage"
                    fi
                else
                    printf '%s\n' "$rel" >> "$work/placed"
                fi
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
                    printf '%s\t%s\t%s\t%s\t%s\t%s\t0\n' "$rel" "$f" "$anc" "$len" "$sha" "$idx" >> "$work/appends"
                    continue
                fi
                # Already there (an earlier run appended it and was cut off before it heard back)?
                if [ "$size" -eq $((anc + len)) ] && [ "$(sha_of_prefix "$f" "$anc")" = "$anc_sha" ] &&
                    [ "$(sha_of_range "$f" "$anc" "$len")" = "$sha" ]; then
                    emit_state appended "$size" "$mtime" 0 - "$rel"
                    continue
                fi
                # Partly there: an earlier run appended the first complete lines of what
                # is sent now, was cut off before ccpod heard back, and ccpod's copy grew
                # since. The rest is appended; nothing forks.
                # (No arithmetic before the checks: a file gone from the pod has size "-".)
                part=0
                case "$size$anc" in *[!0-9]*) ;; *) part=$((size - anc)) ;; esac
                if [ "$part" -gt 0 ] && [ "$part" -lt "$len" ] &&
                    [ "$(tail -c +"$size" "$f" | head -c 1 | wc -l | tr -d ' ')" = 1 ] &&
                    [ "$(sha_of_prefix "$f" "$anc")" = "$anc_sha" ] &&
                    tail -c +"$((anc + 1))" "$f" | cmp -s -n "$part" - "$work/p.$idx"; then
                    tail -c +"$((part + 1))" "$work/p.$idx" > "$work/p.$idx.rest" && mv "$work/p.$idx.rest" "$work/p.$idx" &&
                        printf '%s\t%s\t%s\t%s\t%s\t%s\t0\n' "$rel" "$f" "$size" "$((len - part))" "$(sha_of_file "$work/p.$idx")" "$idx" \
                            >> "$work/appends" && continue
                fi ;;
            P)
                h=$(sha_of_prefix "$f" "$size")
                if [ "$h" = "$sha" ]; then
                    emit_state identical "$size" "$mtime" 0 "$h" "$rel"
                    continue
                fi
                # No common history, and one copy of a session log is the other's first
                # complete lines: a fast-forward. The pod's is longer: it grew (its new
                # lines go back for a sync). Ccpod's is: the rest is appended here.
                case "$rel" in
                    *.jsonl)
                        if [ "$size" -gt "$len" ] && [ "$(sha_of_prefix "$f" "$len")" = "$sha" ]; then
                            grown=$((size - len))
                            emit_state grew "$size" "$mtime" "$(lines_in_range "$f" "$len" "$grown")" - "$rel"
                            case "$mode" in pull|sync) emit_data "$rel" "$f" "$len" "$grown" ;; esac
                            continue
                        fi
                        stage_path "$rel"
                        if [ "$size" -lt "$len" ] && [ -f "$staged" ] &&
                            { [ "$size" -eq 0 ] || [ "$(tail -c +"$size" "$staged" | head -c 1 | wc -l | tr -d ' ')" = 1 ]; } &&
                            [ "$(sha_of_prefix "$staged" "$size")" = "$h" ]; then
                            rest=$((len - size))
                            tail -c +"$((size + 1))" "$staged" > "$work/p.$idx"
                            printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$rel" "$f" "$size" "$rest" "$(sha_of_file "$work/p.$idx")" "$idx" \
                                "$(lines_in_range "$staged" "$size" "$rest")" >> "$work/appends"
                            continue
                        fi ;;
                esac
                emit_state conflict "$size" "$mtime" 0 "$h" "$rel"
                continue ;;
            R)
                if [ "$unchanged" != no ]; then
                    cp "$work/p.$idx" "$f.ccpod-new" &&
                        printf '%s\t%s\t%s\n' "$f.ccpod-new" "$f" "$rel" >> "$work/renames"
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
            emit_state grew "$size" "$mtime" "$(lines_in_range "$f" "$anc" "$grown")" "$(asked_hash "$rel" "$f" "$size")" "$rel"
            case "$mode" in pull|sync) emit_data "$rel" "$f" "$anc" "$grown" ;; esac
        else
            h=$(sha_of_prefix "$f" "$size")
            emit_state rewritten "$size" "$mtime" "$(lines_in_range "$f" 0 "$size")" "$h" "$rel"
            case "$mode" in pull|sync) emit_data "$rel" "$f" 0 "$size" ;; esac
        fi
    done < "$work/joined"

    apply_appends
    place_files
    # Before the answer ends: ccpod is done with the pod as soon as it has read it.
    remove_stages
    send_new
    [ "$overview" = 1 ] && [ "$mode" = status ] && overview_notes
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
# Larger pipes to and from sshd (Linux; perl asks for them, best effort): a stream
# of gigabytes through the default 64 KiB keeps both ends waiting on each other.
# A pipe's size belongs to the pipe, so perl does it beside the agent, not before it
# (its start-up is not added to every exchange).
# (An asynchronous command's stdin is /dev/null unless redirected: fd 3 carries it.)
if command -v perl >/dev/null 2>&1; then
    exec 3<&0
    perl -e 'fcntl(STDIN, 1031, 1048576); fcntl(STDOUT, 1031, 1048576)' <&3 3<&- 2>/dev/null &
    exec 3<&-
fi
# The decompressor checks the request's checksum when it ends; a line after the
# request says it did (run_agent waits for it after END).
case "$req_comp" in
    zstd) checked_by=zstd; { zstd -q -d -c && printf 'C\tchecked\n'; } | run_agent ;;
    gzip) checked_by=gzip; { gzip -d -c && printf 'C\tchecked\n'; } | run_agent ;;
    *) checked_by=''; run_agent ;;
esac
