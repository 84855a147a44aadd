#!/usr/bin/env bash
# Stop the daemons tests/slurm/start_slurm.sh started, by the PIDs it recorded in STATE_DIR.
#
#   tests/slurm/stop_slurm.sh STATE_DIR
#
# Jobs still known to that (test-only) controller are cancelled first. Only a PID whose process is
# still the recorded program (/proc/PID/comm = slurmd, slurmctld, munged) is signalled: SIGTERM,
# then SIGKILL after 15 s. A munged that start_slurm.sh reused (no PID file) is left running.
# Then removes /etc/slurm/{slurm,gres}.conf if start_slurm.sh wrote them for STATE_DIR (see below why).
# Safe to re-run: missing or stale PID files are ignored and removed.
set -uo pipefail

STATE=${1:?usage: stop_slurm.sh STATE_DIR}
[ -d "$STATE" ] || exit 0

log() { echo "stop_slurm: $*" >&2; }

ours() { # ours NAME -> prints the PID if STATE/NAME.pid names a live NAME process
    local f="$STATE/$1.pid" pid
    [ -s "$f" ] || return 1
    pid=$(cat "$f")
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    [ -d "/proc/$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$1" ] &&
        [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ] && echo "$pid"
}

# stop_all NAME...: SIGTERM to each of ours, then wait for all of them (SIGKILL after 15 s)
stop_all() {
    local name pid i pids=() names=()
    for name in "$@"; do
        if pid=$(ours "$name"); then
            kill -TERM "$pid" 2>/dev/null
            pids+=("$pid")
            names+=("$name")
        fi
        rm -f "$STATE/$name.pid"
    done
    for i in "${!pids[@]}"; do
        pid=${pids[$i]}
        for _ in $(seq 1 150); do
            [ -d "/proc/$pid" ] || break
            sleep 0.1
        done
        if [ -d "/proc/$pid" ]; then
            log "${names[$i]} ($pid) ignored SIGTERM; SIGKILL"
            kill -KILL "$pid" 2>/dev/null
        fi
        log "stopped ${names[$i]} ($pid)"
    done
}

# Cancel what is left on our controller (it only ever ran test jobs) so no job outlives slurmd.
if ours slurmctld >/dev/null && command -v squeue >/dev/null; then
    left=$(timeout 20 squeue -h -o %i 2>/dev/null | tr '\n' ' ')
    if [ -n "${left// /}" ]; then
        log "cancelling remaining jobs: $left"
        # shellcheck disable=SC2086
        timeout 20 scancel --full $left 2>/dev/null || true
        for _ in $(seq 1 40); do
            [ -z "$(timeout 10 squeue -h -t R,CG -o %i 2>/dev/null)" ] && break
            sleep 0.5
        done
    fi
fi

stop_all slurmd slurmctld munged

# Remove the configuration start_slurm.sh wrote: while /etc/slurm/slurm.conf names a controller that
# is not running, every `scontrol show config` waits ~9 s for it, and snakemake-executor-plugin-slurm
# runs that whenever Snakemake starts (it loads all plugins): every Snakemake run would be 9 s slower.
# Only the files written for this STATE_DIR (another state dir's SLURM may be running on them).
STATE=$(cd "$STATE" && pwd)
MARKER="# written by imagespace tests/slurm/start_slurm.sh (state: $STATE)"
for f in /etc/slurm/slurm.conf /etc/slurm/gres.conf; do
    if [ -f "$f" ] && [ "$(head -n 1 "$f")" = "$MARKER" ]; then
        rm -f "$f"
    fi
done
exit 0
