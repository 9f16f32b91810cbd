# ccpod launch: the pod side of `ccpod launch` and `ccpod attach`.
# Run as: sh -c "<this script>" ccpod-launch MODE TMUX TMUX_SOCKET ...
#   start TMUX SOCKET NAME PERSIST_DIR POD_DIR PANE_SCRIPT_B64 PERSIST_AUTH WANT_FILE
#       Starts tmux session NAME (detached) running the pane script in POD_DIR,
#       unless it already runs. stdin: NAME=VALUE lines (ANTHROPIC_API_KEY,
#       CLAUDE_CODE_OAUTH_TOKEN) handed to that session's environment only: they
#       travel to tmux through a pipe (source-file -), never in a command line,
#       and touch the disk only with PERSIST_AUTH=yes (then <persist>/auth.env, 0600).
#       Answers: started | running | no-session FILE | error TEXT
#   finish TMUX SOCKET NAME PERSIST_DIR
#       Answers: exited CODE | running | gone
#   list TMUX SOCKET
#       Answers: session NAME ATTACHED CREATED, one per ccpod session

set -u
mode=$1 tmux_prog=$2 tmux_socket=$3
shift 3

say() { printf '%s\n' "$*"; }
tmux_cmd() {
    if [ -n "$tmux_socket" ]; then "$tmux_prog" -L "$tmux_socket" "$@"; else "$tmux_prog" "$@"; fi
}

case $mode in
start)
    name=$1 persist=$2 pod_dir=$3 pane_b64=$4 persist_auth=$5 want=$6
    umask 077
    run="$persist/run"
    case $run in *"'"*|*'"'*) say "error the persistent dir $persist contains a quote; choose another with persistentDir"; exit 0 ;; esac
    if tmux_cmd has-session -t "=$name" 2>/dev/null; then say "running"; exit 0; fi
    if [ -n "$want" ] && [ ! -f "$want" ]; then say "no-session $want"; exit 0; fi
    mkdir -p "$run" || { say "error cannot create $run"; exit 0; }
    mkdir -p "$pod_dir" 2>/dev/null || { say "error cannot create the project folder $pod_dir"; exit 0; }
    { printf '%s' "$pane_b64" | base64 -d > "$run/$name.pane.tmp" && mv -f "$run/$name.pane.tmp" "$run/$name.pane"; } \
        || { say "error cannot write $run/$name.pane"; exit 0; }
    rm -f "$run/$name.exit"
    set_cmds='' unset_cmds='' names='' stored=no
    while IFS= read -r line; do
        case $line in
            ANTHROPIC_API_KEY=*|CLAUDE_CODE_OAUTH_TOKEN=*) ;;
            *) continue ;;
        esac
        var=${line%%=*} val=${line#*=}
        case $val in
            ''|*[!A-Za-z0-9._~+/=-]*) say "error the value of $var has characters a token does not have"; exit 0 ;;
        esac
        set_cmds="${set_cmds}set-environment -g $var '$val'
"
        unset_cmds="${unset_cmds}set-environment -gu $var
"
        names="$names $var"
        if [ "$persist_auth" = yes ]; then
            [ "$stored" = yes ] || : > "$persist/.auth.env.tmp"
            printf '%s=%s\nexport %s\n' "$var" "$val" "$var" >> "$persist/.auth.env.tmp"
            stored=yes
        fi
    done
    if [ "$stored" = yes ]; then
        { chmod 600 "$persist/.auth.env.tmp" && mv -f "$persist/.auth.env.tmp" "$persist/auth.env"; } \
            || { say "error cannot write $persist/auth.env"; exit 0; }
    fi
    # The values exist only in this shell and in the pipe to tmux (printf is a
    # builtin): set globally, copied into the new session, unset globally.
    printf "%snew-session -d -s %s -x 200 -y 50 'exec sh \"%s\"'\n%s" \
        "$set_cmds" "$name" "$run/$name.pane" "$unset_cmds" | tmux_cmd start-server \; source-file - 2>"$run/$name.tmux-err"
    for var in $names; do tmux_cmd set-environment -gu "$var" 2>/dev/null; done
    if tmux_cmd has-session -t "=$name" 2>/dev/null || [ -f "$run/$name.exit" ]; then
        rm -f "$run/$name.tmux-err"
        say "started"
    else
        say "error tmux did not start the session: $(head -c 300 "$run/$name.tmux-err")"
        rm -f "$run/$name.tmux-err"
    fi
    ;;
finish)
    name=$1 persist=$2
    f="$persist/run/$name.exit"
    if [ -f "$f" ]; then
        say "exited $(head -n 1 "$f")"
        rm -f "$f"
    elif tmux_cmd has-session -t "=$name" 2>/dev/null; then
        say "running"
    else
        say "gone"
    fi
    ;;
list)
    tmux_cmd list-sessions -F '#{session_name} #{session_attached} #{session_created}' 2>/dev/null \
        | while IFS= read -r line; do
            case $line in ccpod-*) say "session $line" ;; esac
        done
    ;;
*)
    say "error unknown mode $mode"
    ;;
esac
