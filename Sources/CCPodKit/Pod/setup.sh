# ccpod setup: the pod side of `ccpod setup`, `ccpod check` and `ccpod status`.
# Run as: sh -c "<this script>" ccpod-setup MODE CLAUDE_DIR PERSIST_DIR BIN_DIR
#           INSTALL_COMMAND INSTALL_TMUX FORGET_AUTH TMUX TMUX_SOCKET
# MODE: apply (make everything right), check (report only), status (report
# only, plus Claude's version, ccpod's tmux sessions, GPUs and uptime), layout
# (after a restart: only the links into the persistent dir and the guard, and
# only on a pod that was set up before, i.e. PERSIST_DIR/projects exists).
# Answers one line per fact on stdout:
#   step NAME ok|done|missing|failed DETAIL   (done = changed just now)
#   info NAME VALUE
#   log LINE                                 (the last lines of a failed installer)
#   end STATUS
# Nothing here reads stdin. Every change is a rename or a move of a complete
# file, so an interrupted run leaves both places valid and the next run finishes.
# While it works (an installer can be silent for minutes), `ccpod-alive` goes to
# stderr every 5 s: ccpod takes silence for a stalled pod.

set -u

# The keepalive ticker; its sleep holds none of the pipes, so the answer ends as
# soon as the script does.
keepalive() {
    while sleep 5 2>/dev/null; do
        printf 'ccpod-alive\n' >&2 || exit 0
    done
}
keepalive </dev/null >/dev/null &
ticker=$!
trap 'kill "$ticker" 2>/dev/null' EXIT
mode=$1 claude_dir=$2 persist=$3 bin_dir=$4 install_cmd=$5
install_tmux=$6 forget_auth=$7 tmux_prog=$8 tmux_socket=$9
guard_days=36500
failed=0
stamp=$(date +%Y%m%d-%H%M%S)

say() { printf '%s\n' "$*"; }
changing() { [ "$mode" = apply ] || [ "$mode" = layout ]; }

tmux_cmd() {
    if [ -n "$tmux_socket" ]; then "$tmux_prog" -L "$tmux_socket" "$@"; else "$tmux_prog" "$@"; fi
}

# Moves every file under $1 into $2 (same relative paths). A file already in $2
# with other bytes is kept, and the one from $1 goes to $persist/migrated-<time>/$3/.
# Copies are made next to the destination under a name the sync agent ignores,
# then renamed, so a cut leaves either the old or the complete new file.
migrate_tree() {
    src_root=$1 dst_root=$2 label=$3
    (cd "$src_root" && find . ! -type d) | while IFS= read -r rel; do
        rel=${rel#./}
        src="$src_root/$rel" dst="$dst_root/$rel"
        if [ ! -e "$dst" ] && [ ! -L "$dst" ]; then
            mkdir -p "${dst%/*}" || exit 1
            tmp="${dst%/*}/.${dst##*/}.ccpod-setup"
            cp -P -p "$src" "$tmp" && mv -f "$tmp" "$dst" && rm -f "$src" || exit 1
        elif cmp -s "$src" "$dst"; then
            rm -f "$src" || exit 1
        else
            aside="$persist/migrated-$stamp/$label/$rel"
            mkdir -p "${aside%/*}" || exit 1
            cp -P -p "$src" "$aside" && rm -f "$src" || exit 1
            say "info kept-aside $aside"
        fi
    done || return 1
    find "$src_root" -depth -type d -empty -exec rmdir {} \; 2>/dev/null
    [ ! -e "$src_root" ]
}

# <claude_dir>/NAME -> <persist>/NAME, for a folder (projects, todos).
link_folder() {
    name=$1
    target="$persist/$name" link="$claude_dir/$name"
    if [ -L "$link" ] && [ "$(readlink "$link")" = "$target" ] && [ -d "$target" ]; then
        say "step $name ok $link -> $target"; return
    fi
    if ! changing; then say "step $name missing $link is not linked to $target"; failed=1; return; fi
    { mkdir -p "$target" "$claude_dir" && chmod 700 "$persist" "$target"; } || { say "step $name failed cannot create $target"; failed=1; return; }
    how="linked"
    if [ -L "$link" ]; then
        rm -f "$link"; how="relinked (it pointed elsewhere)"
    elif [ -d "$link" ]; then
        if ! migrate_tree "$link" "$target" "$name"; then
            say "step $name failed could not move everything from $link into $target; nothing was deleted"; failed=1; return
        fi
        how="moved into $target and linked"
    elif [ -e "$link" ]; then
        mkdir -p "$persist/migrated-$stamp" && mv "$link" "$persist/migrated-$stamp/$name"
        how="linked (a file was in the way, kept in $persist/migrated-$stamp)"
    fi
    if ln -s "$target" "$link"; then say "step $name done $how"; else say "step $name failed cannot link $link"; failed=1; fi
}

# <claude_dir>/settings.json -> <persist>/settings/settings.json
link_settings() {
    target="$persist/settings/settings.json" link="$claude_dir/settings.json"
    if [ -L "$link" ] && [ "$(readlink "$link")" = "$target" ]; then
        say "step settings ok $link -> $target"; return
    fi
    if ! changing; then say "step settings missing $link is not linked to $target"; failed=1; return; fi
    { mkdir -p "$persist/settings" "$claude_dir" && chmod 700 "$persist/settings"; } || { say "step settings failed cannot create $persist/settings"; failed=1; return; }
    how="linked"
    if [ -L "$link" ]; then
        rm -f "$link"; how="relinked (it pointed elsewhere)"
    elif [ -f "$link" ]; then
        if [ ! -e "$target" ]; then
            { cp -p "$link" "$target.ccpod-setup" && mv -f "$target.ccpod-setup" "$target" && rm -f "$link"; } || { say "step settings failed cannot move $link"; failed=1; return; }
            how="moved into $persist/settings and linked"
        elif cmp -s "$link" "$target"; then
            rm -f "$link"
        else
            { mkdir -p "$persist/migrated-$stamp" && mv "$link" "$persist/migrated-$stamp/settings.json"; } || { say "step settings failed cannot move $link aside"; failed=1; return; }
            how="linked (the pod's own copy differed: kept in $persist/migrated-$stamp/settings.json)"
        fi
    elif [ -e "$link" ]; then
        say "step settings failed $link is neither a file nor a link"; failed=1; return
    fi
    if ln -s "$target" "$link"; then say "step settings done $how"; else say "step settings failed cannot link $link"; failed=1; fi
}

# cleanupPeriodDays >= guard_days in the persistent settings.json, keeping the rest.
settings_guard() {
    f="$persist/settings/settings.json"
    current=
    if [ -f "$f" ]; then
        current=$(sed -n 's/.*"cleanupPeriodDays"[ ]*:[ ]*\([0-9][0-9]*\).*/\1/p' "$f" | head -n 1)
    fi
    if [ -n "$current" ] && [ "$current" -ge "$guard_days" ]; then
        say "step guard ok cleanupPeriodDays=$current"; return
    fi
    if ! changing; then say "step guard missing cleanupPeriodDays is ${current:-unset} in $f"; failed=1; return; fi
    mkdir -p "$persist/settings" || { say "step guard failed cannot create $persist/settings"; failed=1; return; }
    tmp="$persist/settings/.settings.json.ccpod-setup"
    rm -f "$tmp"
    if [ ! -s "$f" ]; then
        printf '{\n  "cleanupPeriodDays": %s\n}\n' "$guard_days" > "$tmp"
    elif command -v python3 >/dev/null 2>&1; then
        python3 - "$f" "$tmp" "$guard_days" <<'EOF' || { say "step guard failed $f is not a JSON object; fix it by hand"; failed=1; rm -f "$tmp"; return; }
import json, sys
src, dst, days = sys.argv[1], sys.argv[2], int(sys.argv[3])
with open(src) as fh:
    data = json.load(fh)
if not isinstance(data, dict):
    sys.exit(1)
value = data.get("cleanupPeriodDays")
if not isinstance(value, int) or value < days:
    data["cleanupPeriodDays"] = days
with open(dst, "w") as fh:
    json.dump(data, fh, indent=2)
    fh.write("\n")
EOF
    elif [ -n "$current" ]; then
        sed "s/\"cleanupPeriodDays\"[ ]*:[ ]*[0-9][0-9]*/\"cleanupPeriodDays\": $guard_days/" "$f" > "$tmp"
    elif tr -d ' \t\r\n' < "$f" | grep -q '^{}$'; then
        printf '{\n  "cleanupPeriodDays": %s\n}\n' "$guard_days" > "$tmp"
    elif tr -d ' \t\r\n' < "$f" | grep -q '^{'; then
        # No python3: put the key first in the top-level object.
        sed "0,/{/s/{/{\n  \"cleanupPeriodDays\": $guard_days,/" "$f" > "$tmp"
    else
        say "step guard failed $f is not a JSON object; fix it by hand"; failed=1; return
    fi
    { chmod 600 "$tmp" && mv -f "$tmp" "$f"; } || { say "step guard failed cannot write $f"; failed=1; return; }
    say "step guard done cleanupPeriodDays=$guard_days (was ${current:-unset})"
}

find_claude() {
    if [ -x "$bin_dir/claude" ]; then printf '%s\n' "$bin_dir/claude"; return 0; fi
    if command -v claude >/dev/null 2>&1; then command -v claude; return 0; fi
    if [ -x "$HOME/.local/bin/claude" ]; then printf '%s\n' "$HOME/.local/bin/claude"; return 0; fi
    return 1
}

claude_step() {
    if found=$(find_claude); then
        if [ "$found" = "$bin_dir/claude" ]; then
            say "step claude ok $found"
        elif ! changing; then
            say "step claude ok $found"
            say "step path missing $bin_dir/claude (for shells that do not read a profile)"; failed=1
        else
            say "step claude ok $found"
            if mkdir -p "$bin_dir" && ln -sf "$found" "$bin_dir/claude"; then
                say "step path done linked $bin_dir/claude -> $found"
            else
                say "step path failed cannot link $bin_dir/claude"; failed=1
            fi
        fi
        return
    fi
    if ! changing; then say "step claude missing Claude Code is not installed"; failed=1; return; fi
    log="${TMPDIR:-/tmp}/ccpod-install-$$.log"
    if ! sh -c "$install_cmd" > "$log" 2>&1 </dev/null; then
        say "step claude failed the install command failed: $install_cmd"
        tail -n 15 "$log" | while IFS= read -r line; do say "log $line"; done
        rm -f "$log"; failed=1; return
    fi
    if ! found=$(find_claude); then
        say "step claude failed the install command ran but no claude appeared (looked in $bin_dir, PATH, \$HOME/.local/bin)"
        tail -n 15 "$log" | while IFS= read -r line; do say "log $line"; done
        rm -f "$log"; failed=1; return
    fi
    rm -f "$log"
    if [ "$found" != "$bin_dir/claude" ]; then
        { mkdir -p "$bin_dir" && ln -sf "$found" "$bin_dir/claude"; } || { say "step claude failed installed at $found but cannot link $bin_dir/claude"; failed=1; return; }
    fi
    say "step claude done installed $found"
}

tmux_step() {
    if command -v "$tmux_prog" >/dev/null 2>&1; then say "step tmux ok $(command -v "$tmux_prog")"; return; fi
    if ! changing || [ "$install_tmux" != yes ]; then
        say "step tmux missing $tmux_prog is not installed"; failed=1; return
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        say "step tmux failed $tmux_prog is missing and there is no apt-get to install it"; failed=1; return
    fi
    log="${TMPDIR:-/tmp}/ccpod-tmux-$$.log"
    if { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tmux; } > "$log" 2>&1 </dev/null \
        && command -v "$tmux_prog" >/dev/null 2>&1; then
        rm -f "$log"; say "step tmux done installed with apt-get"
    else
        say "step tmux failed apt-get install tmux failed"
        tail -n 15 "$log" | while IFS= read -r line; do say "log $line"; done
        rm -f "$log"; failed=1
    fi
}

auth_step() {
    f="$persist/auth.env"
    if [ "$forget_auth" = yes ] && changing; then
        if [ -e "$f" ]; then rm -f "$f" && say "step auth done removed $f"; else say "step auth ok nothing stored"; fi
    elif [ -e "$f" ]; then
        say "info auth persisted $f"
    fi
}

# The autostop watchdog (Pod/autostop.sh, put there by `ccpod pod autostop`): started
# again after a restart when its key is stored, and its note (it stopped the pod)
# passed on once. Its answers are in this script's format.
autostop_step() {
    dir="$persist/autostop"
    if changing && [ -f "$dir/autostop.sh" ]; then
        sh "$dir/autostop.sh" ensure "$dir" </dev/null 2>/dev/null | head -n 5
    fi
}

if [ "$mode" = layout ] && [ ! -d "$persist/projects" ]; then
    # Never set up: a restart took nothing ccpod made, and nothing is made unasked.
    say "info layout never-set-up"
    say "end 0"
    exit 0
fi
if changing; then
    umask 077
    mkdir -p "$persist" || { say "step layout failed cannot create $persist"; say "end 1"; exit 0; }
fi
link_folder projects
link_folder todos
link_settings
settings_guard
if [ "$mode" != layout ]; then
    claude_step
    tmux_step
    auth_step
fi
autostop_step

if [ "$mode" = status ]; then
    if found=$(find_claude); then
        say "info claude-version $("$found" --version 2>/dev/null | head -n 1)"
    fi
    if command -v "$tmux_prog" >/dev/null 2>&1; then
        tmux_cmd list-sessions -F '#{session_name} #{session_attached} #{session_created}' 2>/dev/null \
            | while IFS= read -r line; do
                case $line in ccpod-*) say "info tmux $line" ;; esac
            done
    fi
    if command -v nvidia-smi >/dev/null 2>&1; then
        nvidia-smi --query-gpu=name,memory.used,memory.total,utilization.gpu --format=csv,noheader,nounits 2>/dev/null \
            | while IFS= read -r line; do say "info gpu $line"; done
    fi
    if [ -r /proc/uptime ]; then say "info uptime $(cut -d ' ' -f 1 /proc/uptime)"; fi
fi
say "end $failed"
