#!/usr/bin/env bash
# Look at the monitor as a person over SSH would: `agentmon demo` in tmux at 80x24,
# the fleet screen, the agent screen of the drifting agent, then the help; printed as text.
# Usage: scripts/demo-in-tmux.sh [COLUMNS ROWS]   (needs tmux and an installed agentmon)
set -euo pipefail
cols=${1:-80}
rows=${2:-24}
session="agentmon-demo-$$"
tmux new-session -d -s "$session" -x "$cols" -y "$rows" "agentmon demo"
trap 'tmux kill-session -t "$session" 2>/dev/null || true' EXIT
sleep 4
echo "=== fleet screen (${cols}x${rows})"
tmux capture-pane -p -t "$session"
tmux send-keys -t "$session" / r e f u n d Enter Enter
sleep 1.5
echo "=== agent screen: refund-agent"
tmux capture-pane -p -t "$session"
tmux send-keys -t "$session" Escape "?"
sleep 1
echo "=== help"
tmux capture-pane -p -t "$session"
tmux send-keys -t "$session" Escape q
