#!/bin/bash
# A single-node Slurm cluster on this machine, for the tests: munged, slurmctld and slurmd as root without systemd,
# every file (config, munge key and socket, state, spool, logs, pids) under one directory.
#
#   scripts/slurm-local.sh start DIR   # writes DIR/slurm.conf, starts the daemons, waits until the node is idle;
#                                      # prints `export SLURM_CONF=DIR/slurm.conf` for the clients
#   scripts/slurm-local.sh stop DIR    # stops the daemons it started, by the pids in DIR/pids
#
# Ports: SLURMCTLD_PORT and SLURMD_PORT, else two free ones picked at random (so two clusters, e.g. two test runs,
# do not meet). Needs Debian's slurm-wlm and munge (make test-deps).
set -euo pipefail

cmd=${1:-}; dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 start|stop DIR" >&2; exit 2; }

stop() {
  [ -f "$dir/pids" ] || return 0
  # Reverse start order: slurmd, slurmctld, munged.
  for pid in $(tac "$dir/pids"); do
    kill "$pid" 2>/dev/null || true
  done
  for pid in $(cat "$dir/pids"); do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  rm -f "$dir/pids"
}

# Called as `detached CMD… &`: in that background subshell, closes every descriptor but stdin, stdout and stderr,
# then becomes CMD (so $! is the daemon's pid). A daemon must not keep its starter's other descriptors: a
# Foundation Process, for one, waits for one of them to close to see this script end.
detached() {
  local fd n
  for fd in /proc/$BASHPID/fd/*; do
    n=${fd##*/}
    if [ "$n" -gt 2 ] 2>/dev/null; then eval "exec $n>&-" 2>/dev/null || true; fi
  done
  exec "$@"
}

# A port nothing on this host accepts connections on.
free_port() {
  local p
  for _ in $(seq 100); do
    p=$((20000 + RANDOM % 30000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
  done
  echo "no free port found" >&2; return 1
}

case "$cmd" in
stop) stop; exit 0 ;;
start) ;;
*) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac

for exe in munged slurmctld slurmd sinfo; do
  command -v "$exe" >/dev/null 2>&1 || [ -x "/usr/sbin/$exe" ] || { echo "$exe not found: install slurm-wlm and munge (make test-deps)" >&2; exit 3; }
done
export PATH="$PATH:/usr/sbin"

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
[ -f "$dir/pids" ] && { echo "$dir already runs a cluster (stop it first)" >&2; exit 1; }
mkdir -p "$dir/munge" "$dir/state" "$dir/spool" "$dir/log"
chmod 700 "$dir/munge"
node=$(hostname -s)
mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 512 ))
cpus=${SLURM_LOCAL_CPUS:-2}
ctld_port=${SLURMCTLD_PORT:-$(free_port)}
slurmd_port=${SLURMD_PORT:-$(free_port)}
while [ "$slurmd_port" = "$ctld_port" ]; do slurmd_port=$(free_port); done

# munged: its own key, socket, pid, seed and log under DIR (--force: root and a temporary directory are fine here).
dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$dir/munge/munge.key"
detached munged --force --foreground --key-file="$dir/munge/munge.key" --socket="$dir/munge/munge.socket" \
  --pid-file="$dir/munge/munged.pid" --seed-file="$dir/munge/munged.seed" --log-file="$dir/log/munged.log" \
  </dev/null >"$dir/log/munged.out" 2>&1 &
echo $! >>"$dir/pids"
for _ in $(seq 50); do [ -S "$dir/munge/munge.socket" ] && break; sleep 0.1; done
[ -S "$dir/munge/munge.socket" ] || { echo "munged did not start; see $dir/log/munged.*" >&2; stop; exit 1; }

cat >"$dir/slurm.conf" <<CONF
# A single node ($node) for Reflex's tests: written by scripts/slurm-local.sh.
ClusterName=reflex-local
SlurmctldHost=$node(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge/munge.socket
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
# No cgroups here (a container, no systemd): processes tracked through /proc, no task binding.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
ReturnToService=2
# Finished jobs stay visible to squeue/scontrol for 5 minutes (no accounting database for sacct here).
MinJobAge=300
KillWait=5
SlurmdTimeout=30
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=local Nodes=$node Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$dir/slurm.conf"

detached slurmctld -D -i -f "$SLURM_CONF" </dev/null >"$dir/log/slurmctld.out" 2>&1 &
echo $! >>"$dir/pids"
detached slurmd -D -N "$node" -f "$SLURM_CONF" </dev/null >"$dir/log/slurmd.out" 2>&1 &
echo $! >>"$dir/pids"

# Ready when the node is idle (or mixed/allocated by someone's jobs already).
for _ in $(seq 150); do
  state=$(sinfo -h -n "$node" -o %T 2>/dev/null || true)
  case "$state" in idle*|mixed*|allocated*) echo "export SLURM_CONF=$SLURM_CONF"; exit 0 ;; esac
  sleep 0.2
done
echo "the node did not come up (state '${state:-none}'); see $dir/log/" >&2
tail -5 "$dir/log/slurmctld.log" "$dir/log/slurmd.log" >&2 || true
stop
exit 1
