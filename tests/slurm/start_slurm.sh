#!/usr/bin/env bash
# Start a throw-away single-node SLURM (munged + slurmctld + slurmd on localhost) for tests/test_slurm.py.
#
#   tests/slurm/start_slurm.sh STATE_DIR      # start (or find already running) and wait until the node is idle
#   tests/slurm/stop_slurm.sh  STATE_DIR      # stop exactly the daemons this script started
#
# - Installs Debian's slurmctld slurmd slurm-client munge with apt-get when a command is missing
#   (needs root; services are NOT started by the packages: a policy-rc.d denies it during the install).
# - Writes /etc/slurm/slurm.conf + gres.conf (one node "localhost" with every CPU, 90% of the memory and
#   one fake GPU: Gres=gpu:1 backed by File=/dev/null, so jobs with --gpus=1 are accepted and run).
#   A slurm.conf this script did not write is never overwritten (exit 4).
# - Creates the munge key if there is none, starts the daemons WITHOUT systemd, in the foreground modes
#   (munged -F, slurmctld -D, slurmd -D) in their own sessions, and records their PIDs in
#   STATE_DIR/{munged,slurmctld,slurmd}.pid (a munged that was already running is reused, not recorded).
#   All SLURM state, spool and logs live under STATE_DIR; a fresh controller starts with no jobs (-c).
# - No accounting (slurmdbd): sacct does not work; Snakemake's slurm plugin must use squeue for job
#   status, which sees finished jobs for MinJobAge (600 s here) seconds.
# - Idempotent: when the daemons recorded in STATE_DIR are alive it only waits for the node to be idle;
#   after a failure (exit 5) some daemons may be up: stop_slurm.sh stops them. stop_slurm.sh also
#   removes the two configuration files again (with them, but no controller, every Snakemake start
#   would wait ~9 s: the SLURM plugin runs `scontrol show config` whenever Snakemake loads it).
#
# Exit status: 0 running and idle; 2 not root; 3 packages could not be installed;
# 4 a foreign SLURM/slurm.conf is in the way; 5 the daemons did not come up (logs in STATE_DIR).
set -euo pipefail

STATE=${1:?usage: start_slurm.sh STATE_DIR}
MARKER="# written by imagespace tests/slurm/start_slurm.sh"
CONF_DIR=/etc/slurm
WAIT_S=${SLURM_START_TIMEOUT:-60}

log() { echo "start_slurm: $*" >&2; }
die() {
    local code=$1
    shift
    log "$*"
    exit "$code"
}

[ "$(id -u)" -eq 0 ] || die 2 "must run as root (installs packages, writes $CONF_DIR, runs munged as user munge)"
mkdir -p "$STATE"
STATE=$(cd "$STATE" && pwd)

# ------------------------------------------------------------------ packages
have_all() {
    command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v sinfo >/dev/null &&
        command -v sbatch >/dev/null && command -v munged >/dev/null && command -v munge >/dev/null
}
export PATH="$PATH:/usr/sbin:/sbin"
if ! have_all; then
    command -v apt-get >/dev/null || die 3 "SLURM is not installed and apt-get is not available"
    created_policy=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then # keep the packages from starting services themselves
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        created_policy=1
    fi
    log "installing slurmctld slurmd slurm-client munge (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    rc=0
    {
        apt-get install -y -q --no-install-recommends slurmctld slurmd slurm-client munge ||
            { apt-get update -q && apt-get install -y -q --no-install-recommends slurmctld slurmd slurm-client munge; }
    } >"$STATE/apt.log" 2>&1 || rc=$?
    [ -n "$created_policy" ] && rm -f /usr/sbin/policy-rc.d
    [ "$rc" -eq 0 ] || die 3 "apt-get install failed (rc=$rc), see $STATE/apt.log: $(tail -n 3 "$STATE/apt.log" | tr '\n' ' ')"
    have_all || die 3 "packages installed but a SLURM/munge command is still missing"
fi

# ------------------------------------------------------------------ helpers
# alive NAME: the PID recorded in STATE/NAME.pid runs and is the program NAME
alive() {
    local f="$STATE/$1.pid" pid
    [ -s "$f" ] || return 1
    pid=$(cat "$f")
    [ -d "/proc/$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$1" ] &&
        [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ] # a killed daemon not reaped yet
}
munge_works() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }
node_state() { sinfo -h -N -n localhost -o '%T' 2>/dev/null | head -n 1; }
wait_idle() {
    local t0=$SECONDS st=""
    while [ $((SECONDS - t0)) -lt "$WAIT_S" ]; do
        for d in slurmctld slurmd; do
            alive "$d" || die 5 "$d exited; last lines of $STATE/$d.out: $(tail -n 5 "$STATE/$d.out" 2>/dev/null | tr '\n' ' ')"
        done
        st=$(node_state || true)
        case "$st" in
        idle | mixed | allocated) return 0 ;;
        down* | drain*) scontrol update nodename=localhost state=resume >/dev/null 2>&1 || true ;;
        esac
        sleep 0.5
    done
    die 5 "node not idle after ${WAIT_S}s (state: '${st}'); logs in $STATE"
}

# ------------------------------------------------------------------ already running (ours)?
if alive slurmctld && alive slurmd && munge_works && grep -qsF "$MARKER" "$CONF_DIR/slurm.conf"; then
    log "already running (PIDs in $STATE)"
    wait_idle
    sinfo
    exit 0
fi
alive munged || rm -f "$STATE/munged.pid" # a stale PID file must not name someone else's process
for d in slurmctld slurmd; do
    if alive "$d"; then # half of a previous start: stop it, start both afresh
        pid=$(cat "$STATE/$d.pid")
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 100); do
            [ -d "/proc/$pid" ] || break
            sleep 0.1
        done
    fi
    rm -f "$STATE/$d.pid"
    others=$(for p in $(pgrep -x "$d"); do [ "$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null)" = Z ] || echo "$p"; done)
    if [ -n "$others" ]; then
        die 4 "a $d not started by this script is running (pid $(echo "$others" | tr '\n' ' ')); not touching it"
    fi
done
if [ -e "$CONF_DIR/slurm.conf" ] && ! grep -qF "$MARKER" "$CONF_DIR/slurm.conf"; then
    die 4 "$CONF_DIR/slurm.conf exists and was not written by this script; not overwriting it"
fi

# ------------------------------------------------------------------ configuration
mkdir -p "$STATE/ctld" "$STATE/spool" "$STATE/run" "$CONF_DIR"
cpus=$(nproc)
mem_mb=$(awk '/^MemTotal:/ {printf "%d", $2 / 1024 * 0.9}' /proc/meminfo)
cat >"$CONF_DIR/slurm.conf.tmp" <<EOF
$MARKER (state: $STATE)
# One node on localhost with a fake GPU; no accounting, no cgroups, no systemd.
ClusterName=imagespace-test
SlurmctldHost=localhost
AuthType=auth/munge
CryptoType=crypto/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$STATE/run/slurmctld.daemon.pid
SlurmdPidFile=$STATE/run/slurmd.daemon.pid
SlurmctldLogFile=$STATE/slurmctld.log
SlurmdLogFile=$STATE/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# without cgroups
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
SchedulerType=sched/builtin
# reject (instead of pending forever) a job asking for more than the node has
EnforcePartLimits=ALL
# finished jobs stay visible to squeue this long (>= 3x the plugin's initial status delay)
MinJobAge=600
ReturnToService=2
SlurmdTimeout=60
InactiveLimit=0
KillWait=5
GresTypes=gpu
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb Gres=gpu:1 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
mv "$CONF_DIR/slurm.conf.tmp" "$CONF_DIR/slurm.conf"
cat >"$CONF_DIR/gres.conf" <<EOF
$MARKER (state: $STATE)
# a fake GPU: lets jobs requesting --gpus=1 be scheduled on a machine without one
NodeName=localhost Name=gpu File=/dev/null
EOF

# ------------------------------------------------------------------ munge
if ! munge_works; then
    rm -f "$STATE/munged.pid"
    install -d -o munge -g munge -m 0700 /etc/munge /var/lib/munge /var/log/munge
    install -d -o munge -g munge -m 0755 /run/munge
    if [ ! -s /etc/munge/munge.key ]; then
        if command -v mungekey >/dev/null; then
            mungekey --create --keyfile=/etc/munge/munge.key
        else
            dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
        fi
    fi
    chown munge:munge /etc/munge/munge.key
    chmod 0400 /etc/munge/munge.key
    setsid setpriv --reuid=munge --regid=munge --init-groups /usr/sbin/munged -F \
        </dev/null >"$STATE/munged.log" 2>&1 &
    echo $! >"$STATE/munged.pid"
    for _ in $(seq 1 50); do
        munge_works && break
        sleep 0.2
    done
    munge_works || die 5 "munged did not come up: $(tail -n 5 "$STATE/munged.log" | tr '\n' ' ')"
fi

# ------------------------------------------------------------------ slurmctld, slurmd
setsid /usr/sbin/slurmctld -D -c </dev/null >"$STATE/slurmctld.out" 2>&1 &
echo $! >"$STATE/slurmctld.pid"
for _ in $(seq 1 50); do
    scontrol ping 2>/dev/null | grep -q UP && break
    alive slurmctld || die 5 "slurmctld exited: $(tail -n 5 "$STATE/slurmctld.out" | tr '\n' ' ')"
    sleep 0.2
done
setsid /usr/sbin/slurmd -D -N localhost </dev/null >"$STATE/slurmd.out" 2>&1 &
echo $! >"$STATE/slurmd.pid"

wait_idle
log "SLURM up: munged $(cat "$STATE/munged.pid" 2>/dev/null || echo '(reused)'), slurmctld $(cat "$STATE/slurmctld.pid"), slurmd $(cat "$STATE/slurmd.pid")"
sinfo
