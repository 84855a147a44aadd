#!/usr/bin/env bash
# Stop the daemons tests/slurm/start_slurm.sh started, by the PIDs it recorded in STATE_DIR.
#
#   tests/slurm/stop_slurm.sh STATE_DIR
#
# Jobs still known to that (test-only) controller are cancelled first. Only a PID whose process is
# still the recorded program (/proc/PID/comm = slurmd, slurmctld, munged) is signalled: SIGTERM,
# then SIGKILL after 15 s. A munged that start_slurm.sh reused (no PID file) is left running.
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
    [ -d "/proc/$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$1" ] && echo "$pid"
}

# Cancel what is left on our controller (it only ever ran test jobs) so no job step outlives slurmd.
if ours slurmctld >/dev/null && command -v scancel >/dev/null; then
    if [ -n "$(squeue -h -o %i 2>/dev/null)" ]; then
        log "cancelling remaining jobs: $(squeue -h -o %i | tr '\n' ' ')"
        timeout 20 scancel --full $(squeue -h -o %i) 2>/dev/null || true
        for _ in $(seq 1 20); do
            [ -z "$(squeue -h -t R,CG -o %i 2>/dev/null)" ] && break
            sleep 0.5
        done
    fi
fi

for name in slurmd slurmctld munged; do
    if pid=$(ours "$name"); then
        kill -TERM "$pid" 2>/dev/null
        for _ in $(seq 1 30); do
            [ -d "/proc/$pid" ] || break
            sleep 0.5
        done
        if [ -d "/proc/$pid" ]; then
            log "$name ($pid) ignored SIGTERM; SIGKILL"
            kill -KILL "$pid" 2>/dev/null
        fi
        log "stopped $name ($pid)"
    fi
    rm -f "$STATE/$name.pid"
done
exit 0
