# ccpod autostop: the pod side of `ccpod pod autostop`, and the watchdog itself,
# which stops the pod through the RunPod API once it has been idle long enough.
# It only ever asks for `stop` (the volume is kept); it never terminates a pod.
#
# Run by ccpod as: sh -c "<this script>" ccpod-autostop MODE DIR [ARGS...]
# and on the pod from the copy it installs: sh DIR/autostop.sh MODE DIR.
# DIR is <persistent dir>/autostop (0700); it holds autostop.sh (this script),
# config (NAME=VALUE lines), key (0600, only with --persist-key), watchdog.pid,
# state, tick (the run-log stamp), note.pending (while the API is asked), note
# (left when the API agreed to stop the pod) and note.delivered (once shown).
#
# Modes (answers on stdout, one fact a line):
#   install DIR POD_NAME IDLE INTERVAL GPU_THRESHOLD POD_ID API_URL COST CLAUDE_DIR
#           RUNS_DIR TMUX TMUX_SOCKET PERSIST_KEY ENV_FILE
#       stdin: the RunPod API key on the first line, then this script's text.
#       Writes the config and the script, stores the key only with PERSIST_KEY=yes
#       (else removes a stored one), replaces a running watchdog by a new one.
#       POD_ID empty: RUNPOD_POD_ID of the environment, else of ENV_FILE.
#       Answers: started PID POD_ID | error TEXT
#   resume DIR      stdin as for install; keeps the config. Answers as install.
#   off DIR         stops the watchdog, removes its files (an undelivered note stays).
#                   Answers: off | was-off
#   status DIR      Answers: config NAME VALUE | watchdog running PID | watchdog
#                   stopped | state EPOCH TICKS KIND DETAIL | key stored | note ...
#   ensure DIR      (`ccpod setup`, after a restart) starts the watchdog when it is
#                   configured and not running, with the stored key. Answers, in
#                   setup's format: step autostop ok|done DETAIL | info autostop
#                   needs-key, then `info` and what deliver answers.
#   deliver DIR     the note, once: autostop-note NAME STOPPED_AT IDLE_SECONDS GPUS
#                   COST_PER_HOUR RESUMED_AT (COST and RESUMED_AT `-` when unknown)
#   check DIR       one idle check: idle | busy REASON [DETAIL]
#   run DIR         the watchdog (stdin: the key on the first line, then nothing).
#
# Idle means all of: no tmux client attached, no Claude Code session busy (a
# <claude>/sessions/<pid>.json whose pid is alive and whose status is not
# "idle"), every GPU below the threshold (when nvidia-smi exists; a failing
# nvidia-smi counts as busy), and no file under <runs>/*/logs/ written since the
# last check. The watchdog stops the pod when every check for IDLE seconds found
# it idle, checking every INTERVAL seconds. The key never appears in a command
# line or an environment: it is read from stdin, kept in the shell's memory and
# handed to curl as a config on curl's stdin.
# shellcheck shell=sh

set -u
umask 077
mode=${1:-} dir=${2:-}
[ -n "$dir" ] || { printf 'error no folder given\n'; exit 0; }
shift 2

say() { printf '%s\n' "$*"; }

# NAME -> its value in the config (the first line NAME=...).
conf() {
    sed -n "s/^$1=//p" "$dir/config" 2>/dev/null | head -n 1
}

load_config() {
    pod_name=$(conf pod_name) idle=$(conf idle) interval=$(conf interval)
    gpu_threshold=$(conf gpu_threshold) pod_id=$(conf pod_id) api_url=$(conf api_url)
    cost=$(conf cost) claude_dir=$(conf claude_dir) runs_dir=$(conf runs_dir)
    tmux_prog=$(conf tmux) tmux_socket=$(conf tmux_socket)
    case $idle in ''|*[!0-9]*) idle=1800 ;; esac
    case $interval in ''|*[!0-9]*|0) interval=60 ;; esac
    case $gpu_threshold in ''|*[!0-9]*) gpu_threshold=5 ;; esac
    [ -n "$tmux_prog" ] || tmux_prog=tmux
}

# The pid of this folder's live watchdog, or failure. A pid in the file is only
# believed when that process runs this folder's script (pids are reused after a
# restart).
live_pid() {
    pid=$(head -c 20 "$dir/watchdog.pid" 2>/dev/null | tr -cd '0-9')
    [ -n "$pid" ] || return 1
    if [ -r "/proc/$pid/cmdline" ]; then
        tr '\000' ' ' < "/proc/$pid/cmdline" | grep -qF -- "$dir/autostop.sh run" || return 1
    else
        kill -0 "$pid" 2>/dev/null || return 1
    fi
    printf '%s\n' "$pid"
}

nap() { sleep 0.1 2>/dev/null || sleep 1; }

# Seconds as people read them: 30 min, 90 s.
span() {
    if [ $(($1 % 60)) -eq 0 ]; then printf '%s min' $(($1 / 60)); else printf '%s s' "$1"; fi
}

# One installer at a time (two laptops): a folder holding the holder's pid,
# taken over when that process is gone.
lock() {
    n=0
    until mkdir "$dir/install.lock" 2>/dev/null; do
        holder=$(cat "$dir/install.lock/pid" 2>/dev/null) || holder=''
        if [ -n "$holder" ] && ! kill -0 "$holder" 2>/dev/null; then rm -rf "$dir/install.lock"; continue; fi
        # A holder that died before it wrote its pid, or whose pid a restart gave to
        # another process: an install never holds the lock for minutes.
        if [ -n "$(find "$dir/install.lock" -maxdepth 0 -mmin +2 2>/dev/null)" ] \
            || { [ -z "$holder" ] && [ -n "$(find "$dir/install.lock" -maxdepth 0 -mmin +1 2>/dev/null)" ]; }; then
            rm -rf "$dir/install.lock"; continue
        fi
        n=$((n + 1))
        [ "$n" -lt 600 ] || { say "error another ccpod has been changing the autostop watchdog for a minute; try again"; exit 0; }
        nap
    done
    printf '%s\n' "$$" > "$dir/install.lock/pid"
    trap 'rm -rf "$dir/install.lock"' EXIT
}

stop_watchdog() {
    old=$(live_pid) || return 0
    kill "$old" 2>/dev/null
    n=0
    while [ "$n" -lt 50 ] && live_pid >/dev/null; do nap; n=$((n + 1)); done
    if live_pid >/dev/null; then kill -9 "$old" 2>/dev/null; nap; fi
    rm -f "$dir/watchdog.pid"
}

# Starts the watchdog with the key $1, detached from this session (its own
# session, HUP ignored, no descriptor of ssh's), and waits for its pid.
start_watchdog() {
    rm -f "$dir/watchdog.pid"
    if command -v setsid >/dev/null 2>&1; then
        printf '%s\n' "$1" | setsid nohup sh "$dir/autostop.sh" run "$dir" >/dev/null 2>&1 &
    else
        printf '%s\n' "$1" | nohup sh "$dir/autostop.sh" run "$dir" >/dev/null 2>&1 &
    fi
    n=0
    while [ "$n" -lt 100 ]; do
        if started=$(live_pid); then printf '%s\n' "$started"; return 0; fi
        nap
        n=$((n + 1))
    done
    return 1
}

valid_key() {
    case $1 in ''|*[!A-Za-z0-9._-]*) return 1 ;; esac
}

write_state() {
    printf '%s\n' "$*" > "$dir/state.tmp" && mv -f "$dir/state.tmp" "$dir/state"
}

# When this container started (its pid 1), in seconds since the epoch, or -.
container_started() {
    if [ -r /proc/1/stat ] && [ -r /proc/uptime ]; then
        hz=$(getconf CLK_TCK 2>/dev/null) || hz=100
        awk -v hz="$hz" -v now="$(date +%s)" '
            NR == FNR { up = $1; next }
            { s = $0; sub(/.*\) /, "", s); split(s, f, " "); printf "%d\n", now - (up - f[20] / hz) }
        ' /proc/uptime /proc/1/stat 2>/dev/null && return 0
    fi
    printf '%s\n' -
}

# The note, once: renamed before it is printed, so a second contact never shows it again.
deliver() {
    [ -f "$dir/note" ] || return 0
    mv -f "$dir/note" "$dir/note.delivered" 2>/dev/null || return 0
    line=$(head -n 1 "$dir/note.delivered" | head -c 300 | tr -d '\r\t')
    printf 'autostop-note %s %s\n' "$line" "$(container_started)"
}

# Prints why the pod is busy and succeeds, or fails when it is idle.
busy_reason() {
    # A run log written since the last check (the stamp moves on every check).
    if [ -n "$runs_dir" ] && [ -d "$runs_dir" ]; then
        : > "$dir/tick.new"
        grown=''
        if [ -f "$dir/tick" ]; then
            grown=$(find "$runs_dir" -mindepth 3 -maxdepth 8 -path "$runs_dir/*/logs/*" -type f -newer "$dir/tick" 2>/dev/null | head -n 1)
        fi
        mv -f "$dir/tick.new" "$dir/tick"
        if [ -n "$grown" ]; then say "run-log ${grown#"$runs_dir"/}"; return 0; fi
    fi
    # A tmux client attached (ccpod's tmux server, and the default one).
    if command -v "$tmux_prog" >/dev/null 2>&1; then
        if [ -n "$tmux_socket" ] && [ -n "$("$tmux_prog" -L "$tmux_socket" list-clients 2>/dev/null | head -n 1)" ]; then
            say "tmux client attached"; return 0
        fi
        if [ -n "$("$tmux_prog" list-clients 2>/dev/null | head -n 1)" ]; then say "tmux client attached"; return 0; fi
    fi
    # A Claude Code session at work: its registry entry's pid alive, its status not idle.
    for reg in "$claude_dir"/sessions/*.json; do
        [ -f "$reg" ] || continue
        cpid=$(sed -n 's/.*"pid"[ ]*:[ ]*\([0-9][0-9]*\).*/\1/p' "$reg" | head -n 1)
        [ -n "$cpid" ] || continue
        [ -d "/proc/$cpid" ] || kill -0 "$cpid" 2>/dev/null || continue
        status=$(sed -n 's/.*"status"[ ]*:[ ]*"\([^"]*\)".*/\1/p' "$reg" | head -n 1)
        if [ "$status" != idle ]; then say "claude pid $cpid ${status:-no-status}"; return 0; fi
    done
    # The GPUs.
    if command -v nvidia-smi >/dev/null 2>&1; then
        if ! util=$(nvidia-smi --query-gpu=utilization.gpu --format=csv,noheader,nounits 2>/dev/null); then
            say "gpu nvidia-smi-failed"; return 0
        fi
        for u in $util; do
            case $u in ''|*[!0-9]*) continue ;; esac
            if [ "$u" -ge "$gpu_threshold" ]; then say "gpu $u%"; return 0; fi
        done
    fi
    return 1
}

# Asks the RunPod API to stop the pod. The key goes to curl on its stdin.
stop_pod() {
    gpus=0
    if command -v nvidia-smi >/dev/null 2>&1; then
        gpus=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU') || gpus=0
    fi
    idle_for=$((now - idle_since))
    # The note is written first and put in place as soon as the API has said yes (the
    # container may be gone a moment later); a refused or failed request leaves none.
    printf '%s %s %s %s %s\n' "${pod_name:-pod}" "$now" "$idle_for" "$gpus" "${cost:--}" > "$dir/note.pending"
    write_state "$now $ticks stopping idle for $idle_for s"
    code=$(printf 'header = "Authorization: Bearer %s"\n' "$key" \
        | curl -sS -o "$dir/answer" -w '%{http_code}' --max-time 30 -K - -X POST \
            -H 'Content-Type: application/json' -H 'Accept: application/json' \
            --data '{"action":"stop"}' "$api_url/v2/pods/$pod_id/action" 2>/dev/null) || code=000
    rm -f "$dir/answer"
    case $code in
        2??)
            mv -f "$dir/note.pending" "$dir/note"
            write_state "$now $ticks stopped asked the RunPod API to stop pod $pod_id after $idle_for s idle"
            [ "$(cat "$dir/watchdog.pid" 2>/dev/null)" = "$$" ] && rm -f "$dir/watchdog.pid"
            exit 0 ;;
        429|5??|000)
            # Passing trouble: the next check tries again.
            rm -f "$dir/note.pending"
            write_state "$now $ticks error the RunPod API did not stop the pod (HTTP $code); trying again" ;;
        *)
            # Refused (a wrong key, an unknown pod): wait a whole idle time before asking again.
            rm -f "$dir/note.pending"
            idle_since=''
            write_state "$now $ticks error the RunPod API refused to stop pod $pod_id (HTTP $code)" ;;
    esac
}

sleeper=''
run_watchdog() {
    IFS= read -r key || key=''
    exec </dev/null
    trap '' HUP
    trap '[ -n "$sleeper" ] && kill "$sleeper" 2>/dev/null; exit 0' TERM INT
    printf '%s\n' "$$" > "$dir/watchdog.pid.$$" && mv -f "$dir/watchdog.pid.$$" "$dir/watchdog.pid"
    valid_key "$key" || { write_state "$(date +%s) 0 error no API key"; exit 1; }
    ticks=0 idle_since=''
    while :; do
        # Replaced by a newer watchdog, or turned off: this one goes.
        [ "$(cat "$dir/watchdog.pid" 2>/dev/null)" = "$$" ] || exit 0
        [ -f "$dir/config" ] || exit 0
        load_config
        now=$(date +%s)
        ticks=$((ticks + 1))
        if reason=$(busy_reason); then
            idle_since=''
            write_state "$now $ticks busy $reason"
        else
            [ -n "$idle_since" ] || idle_since=$now
            write_state "$now $ticks idle since $idle_since"
            [ $((now - idle_since)) -ge "$idle" ] && stop_pod
        fi
        sleep "$interval" &
        sleeper=$!
        wait "$sleeper"
        sleeper=''
    done
}

# Takes the key and the script from stdin, puts the script in place and starts a watchdog.
take_script_and_start() {
    IFS= read -r key || key=''
    valid_key "$key" || { say "error the RunPod API key has characters a key does not have"; exit 0; }
    command -v curl >/dev/null 2>&1 || { say "error curl is not installed on the pod (apt-get install curl); the watchdog needs it to reach the RunPod API"; exit 0; }
    { mkdir -p "$dir" && chmod 700 "$dir"; } || { say "error cannot create $dir"; exit 0; }
    lock
    { cat > "$dir/autostop.sh.tmp" && [ -s "$dir/autostop.sh.tmp" ] && mv -f "$dir/autostop.sh.tmp" "$dir/autostop.sh"; } \
        || { say "error cannot write $dir/autostop.sh"; exit 0; }
}

case $mode in
install)
    [ $# -ge 13 ] || { say "error install needs 13 arguments"; exit 0; }
    pod_name=$1 idle=$2 interval=$3 gpu_threshold=$4 pod_id=$5 api_url=$6 cost=$7
    claude_dir=$8 runs_dir=$9
    shift 9
    tmux_prog=$1 tmux_socket=$2 persist_key=$3 env_file=$4
    if [ -z "$pod_id" ]; then pod_id=${RUNPOD_POD_ID:-}; fi
    if [ -z "$pod_id" ] && [ -r "$env_file" ]; then
        pod_id=$(sed -n "s/^\(export[ 	]*\)\{0,1\}RUNPOD_POD_ID=[\"']\{0,1\}\([A-Za-z0-9_-]*\).*/\2/p" "$env_file" | head -n 1)
    fi
    [ -n "$pod_id" ] || { say "error no-pod-id"; exit 0; }
    case $pod_id in *[!A-Za-z0-9_-]*) say "error the pod id $pod_id is not a RunPod pod id"; exit 0 ;; esac
    for v in "$pod_name" "$idle" "$interval" "$gpu_threshold" "$api_url" "$cost" "$claude_dir" "$runs_dir" "$tmux_prog" "$tmux_socket"; do
        case $v in *'
'*) say "error a setting has a newline"; exit 0 ;; esac
    done
    take_script_and_start
    {
        printf 'pod_name=%s\nidle=%s\ninterval=%s\ngpu_threshold=%s\npod_id=%s\n' "$pod_name" "$idle" "$interval" "$gpu_threshold" "$pod_id"
        printf 'api_url=%s\ncost=%s\nclaude_dir=%s\nruns_dir=%s\ntmux=%s\ntmux_socket=%s\n' "$api_url" "$cost" "$claude_dir" "$runs_dir" "$tmux_prog" "$tmux_socket"
    } > "$dir/config.tmp" || { say "error cannot write $dir/config"; exit 0; }
    mv -f "$dir/config.tmp" "$dir/config" || { say "error cannot write $dir/config"; exit 0; }
    if [ "$persist_key" = yes ]; then
        { printf '%s\n' "$key" > "$dir/key.tmp" && chmod 600 "$dir/key.tmp" && mv -f "$dir/key.tmp" "$dir/key"; } \
            || { say "error cannot write $dir/key"; exit 0; }
    else
        rm -f "$dir/key"
    fi
    rm -f "$dir/tick"
    stop_watchdog
    if pid=$(start_watchdog "$key"); then say "started $pid $pod_id"; else say "error the watchdog did not start"; fi
    ;;
resume)
    [ -f "$dir/config" ] || { say "error autostop is off"; exit 0; }
    take_script_and_start
    stop_watchdog
    if pid=$(start_watchdog "$key"); then say "started $pid $(conf pod_id)"; else say "error the watchdog did not start"; fi
    ;;
off)
    if [ ! -d "$dir" ]; then say "was-off"; exit 0; fi
    lock
    was='was-off'
    if [ -f "$dir/config" ] || live_pid >/dev/null; then was='off'; fi
    stop_watchdog
    rm -f "$dir/config" "$dir/key" "$dir/key.tmp" "$dir/autostop.sh" "$dir/state" "$dir/tick" "$dir/tick.new" "$dir/watchdog.pid" "$dir/note.pending"
    say "$was"
    ;;
status)
    if [ -f "$dir/config" ]; then
        while IFS='=' read -r name value; do
            case $name in *[!a-z_]*|'') continue ;; esac
            say "config $name $value"
        done < "$dir/config"
    fi
    if pid=$(live_pid); then say "watchdog running $pid"; else say "watchdog stopped"; fi
    [ -f "$dir/state" ] && say "state $(head -n 1 "$dir/state" | head -c 400)"
    [ -f "$dir/key" ] && say "key stored"
    [ -f "$dir/note" ] && say "note $(head -n 1 "$dir/note" | head -c 300)"
    ;;
ensure)
    if [ -f "$dir/config" ]; then
        load_config
        if pid=$(live_pid); then
            say "step autostop ok watching (stops the pod after $(span "$idle") idle)"
        elif [ -f "$dir/key" ]; then
            lock
            key=$(head -n 1 "$dir/key")
            if valid_key "$key" && pid=$(start_watchdog "$key"); then
                say "step autostop done restarted the watchdog (stops the pod after $(span "$idle") idle)"
            else
                say "step autostop failed the watchdog did not start; run ccpod pod autostop again"
            fi
        else
            say "info autostop needs-key"
        fi
    fi
    note=$(deliver)
    if [ -n "$note" ]; then say "info $note"; fi
    ;;
deliver)
    deliver
    ;;
check)
    load_config
    if reason=$(busy_reason); then say "busy $reason"; else say "idle"; fi
    ;;
run)
    run_watchdog
    ;;
*)
    say "error unknown mode $mode"
    ;;
esac
