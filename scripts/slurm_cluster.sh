#!/usr/bin/env bash
# Start and stop a real one-node Slurm cluster on this machine, for the pipeline's tests
# and CI (`snakemake --profile slurm` against it). Debian 12's packages, no systemd.
#
#   scripts/slurm_cluster.sh install             # apt packages (no-op when installed)
#   eval "$(scripts/slurm_cluster.sh start DIR)" # prints `export SLURM_CONF=DIR/etc/slurm.conf`
#   scripts/slurm_cluster.sh status DIR
#   scripts/slurm_cluster.sh stop DIR
#
# Everything the cluster writes lives under DIR: configs (etc/), a private munge key and
# socket (munge/), the MariaDB data dir (mysql/), Slurm state and spool (spool/), logs
# (log/) and one pid file per daemon (pids/). Outside DIR, start only makes the symlink
# /run/slurm/conf -> DIR/etc (see link_run_conf; stop removes it); `install` changes the
# system only through apt.
# Accounting: slurmdbd on a private MariaDB, so that `sacct` (the default status command
# of Snakemake's slurm executor) works. If it cannot start, the cluster runs with
# AccountingStorageType=accounting_storage/none, says so on stderr, and DIR/status_command
# holds `squeue` instead of `sacct` (pass `--slurm-status-command squeue` to snakemake).
# MEMTR_SLURM_ACCOUNTING=none skips accounting on purpose (to test that path).
# The daemons run as root; the munge socket lives under DIR, so use the cluster as root.
set -euo pipefail

PACKAGES=(slurmctld slurmd slurm-client munge slurmdbd mariadb-server)
# Stop order; start order is the reverse.
DAEMONS=(slurmd slurmctld slurmdbd mariadbd munged)
WAIT_S=60

die() { echo "slurm_cluster: error: $*" >&2; exit 1; }
say() { echo "slurm_cluster: $*" >&2; }

usage() {
  cat >&2 <<'EOF'
usage: slurm_cluster.sh install
       slurm_cluster.sh start STATE_DIR    (prints the `export SLURM_CONF=...` line)
       slurm_cluster.sh stop STATE_DIR
       slurm_cluster.sh status STATE_DIR
EOF
  exit 2
}

# ---------------------------------------------------------------------------- helpers

# A TCP port that is free on 127.0.0.1 right now.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_for SECONDS DAEMON CMD...: retry CMD every 0.2 s until it succeeds; give up early
# once DAEMON (a name in DAEMONS, or "-") has written its pid file and died.
wait_for() {
  local secs=$1 daemon=$2; shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || return 1
    if [[ $daemon != - && -s $STATE/pids/$daemon.pid ]] \
      && ! running "$(tr -dc '0-9' <"$STATE/pids/$daemon.pid")"; then
      return 1
    fi
    sleep 0.2
  done
}

# Whether process $1 exists and is not a zombie (an exited daemon whose reaper is slow).
running() {
  kill -0 "$1" 2>/dev/null || return 1
  [[ $(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) != Z ]]
}

# The pid recorded for daemon $1, if the process is alive and is that daemon (guards
# against a stale pid file whose pid was reused by something else).
live_pid() {
  local f="$STATE/pids/$1.pid" pid comm
  [[ -s $f ]] || return 1
  pid=$(tr -dc '0-9' <"$f")
  [[ -n $pid ]] && running "$pid" || return 1
  comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
  [[ $comm == "$1" ]] || return 1
  echo "$pid"
}

# set_state_dir DIR [create]: resolve DIR to an absolute path (made when "create").
set_state_dir() {
  [[ -n ${1:-} ]] || usage
  if [[ ${2:-} == create ]]; then
    mkdir -p "$1" || die "cannot create state dir $1"
  fi
  [[ -d $1 ]] || die "state dir $1 does not exist"
  STATE=$(cd "$1" && pwd -P)
  CONF="$STATE/etc/slurm.conf"
  export SLURM_CONF="$CONF"
}

# Last lines of a log file, for error messages.
log_tail() { tail -n 5 "$1" 2>/dev/null | tr '\n' ' ' || true; }

# ---------------------------------------------------------------------------- install

packages_missing() {
  local p
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || return 0
  done
  return 1
}

cmd_install() {
  [[ $(id -u) == 0 ]] || die "install needs root (apt-get)"
  packages_missing || { say "packages already installed"; return 0; }
  export DEBIAN_FRONTEND=noninteractive
  # Without systemd the maintainer scripts would start system-wide munge/mariadb/slurm
  # services through invoke-rc.d; a temporary policy-rc.d forbids that (ours run per
  # state dir). Only a policy file that we created is removed again.
  local policy=/usr/sbin/policy-rc.d created=""
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && created=1
  fi
  local rc=0
  { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null; } || rc=$?
  if [[ -n $created ]]; then rm -f "$policy"; fi
  ((rc == 0)) || die "apt-get install ${PACKAGES[*]} failed (exit $rc)"
  say "installed ${PACKAGES[*]}"
}

# ---------------------------------------------------------------------------- configs

write_slurm_conf() {  # $1: accounting storage type (slurmdbd|none)
  local mem_mb cpus
  cpus=$(nproc)
  mem_mb=$(awk '/^MemTotal:/ {printf "%d", $2 / 1024 * 0.9}' /proc/meminfo)
  cat >"$CONF" <<EOF
# Written by scripts/slurm_cluster.sh; rewritten at every start.
ClusterName=memtr
SlurmctldHost=$HOST(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$STATE/munge/munge.socket
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/backfill
# Try to schedule a batch job when it is submitted (by default batch jobs wait for the
# next scheduling pass, up to 3 s).
SchedulerParameters=batch_sched_delay=0
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1024
ReturnToService=2
MinJobAge=300
SlurmdTimeout=300
InactiveLimit=0
KillWait=10
StateSaveLocation=$STATE/spool/slurmctld
SlurmdSpoolDir=$STATE/spool/slurmd
SlurmctldPidFile=$STATE/pids/slurmctld.pid
SlurmdPidFile=$STATE/pids/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
MailProg=/bin/true
AccountingStorageType=accounting_storage/$1
EOF
  if [[ $1 == slurmdbd ]]; then
    cat >>"$CONF" <<EOF
AccountingStorageHost=127.0.0.1
AccountingStoragePort=$DBD_PORT
# For accounting_storage/slurmdbd this names the munge socket to authenticate with.
AccountingStoragePass=$STATE/munge/munge.socket
EOF
  fi
  cat >>"$CONF" <<EOF
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=30
GresTypes=gpu
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
  # Read only with cgroup plugins, which this cluster does not use (no systemd here).
  echo "# proctrack/linuxproc and task/none: no cgroup plugin is used." >"$STATE/etc/cgroup.conf"
}

write_slurmdbd_conf() {
  local f="$STATE/etc/slurmdbd.conf"
  cat >"$f" <<EOF
# Written by scripts/slurm_cluster.sh; rewritten at every start.
AuthType=auth/munge
AuthInfo=socket=$STATE/munge/munge.socket
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=$DBD_PORT
SlurmUser=root
PidFile=$STATE/pids/slurmdbd.pid
LogFile=$STATE/log/slurmdbd.log
DebugLevel=info
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=$DB_PASS
StorageLoc=slurm_acct_db
EOF
  chmod 600 "$f"  # slurmdbd refuses a config that others can read
}

# Jobs must find the config without SLURM_CONF: Snakemake's slurm-jobstep executor drops
# every SLURM_* variable (SLURM_CONF included) before its nested `srun`. After SLURM_CONF
# and /etc/slurm/slurm.conf, libslurm looks in /run/slurm/conf/ (where a configless slurmd
# puts its config cache), so point that at this cluster's etc/ while it runs.
RUN_CONF=/run/slurm/conf

link_run_conf() {
  local old
  old=$(readlink "$RUN_CONF" 2>/dev/null || true)
  if [[ -e $RUN_CONF && ! -L $RUN_CONF ]]; then
    die "$RUN_CONF exists and is not a symlink; refusing to replace it"
  fi
  if [[ -n $old && $old != "$STATE/etc" && -e $old/slurm.conf ]]; then
    say "note: $RUN_CONF pointed at $old (another cluster?); it now points here"
  fi
  mkdir -p "$(dirname "$RUN_CONF")"
  ln -sfn "$STATE/etc" "$RUN_CONF"
}

unlink_run_conf() {
  if [[ $(readlink "$RUN_CONF" 2>/dev/null) == "$STATE/etc" ]]; then
    rm -f "$RUN_CONF"
    rmdir "$(dirname "$RUN_CONF")" 2>/dev/null || true  # only if now empty
  fi
}

# ---------------------------------------------------------------------------- daemons

start_munge() {
  local key="$STATE/munge/munge.key"
  # A private key and socket: no dependency on a system munged or on /run/munge.
  [[ -s $key ]] || (umask 077 && head -c 1024 /dev/urandom >"$key")
  chmod 400 "$key"
  rm -f "$STATE/munge/munge.socket" "$STATE/munge/munge.socket.lock"
  # --force: munged otherwise refuses a socket in a folder that not everyone can enter
  # (DIR/munge is 0700, and so are pytest's tmp folders); clients here run as root.
  munged --force --key-file="$key" --socket="$STATE/munge/munge.socket" \
    --pid-file="$STATE/pids/munged.pid" --log-file="$STATE/log/munged.log" \
    --seed-file="$STATE/munge/munged.seed" >>"$STATE/log/munged.log" 2>&1 \
    || die "munged failed to start: $(log_tail "$STATE/log/munged.log")"
  wait_for 10 munged bash -c "munge -n -S '$STATE/munge/munge.socket' | unmunge -S '$STATE/munge/munge.socket'" \
    || die "munge does not answer: $(log_tail "$STATE/log/munged.log")"
}

# shellcheck disable=SC2120  # called with arguments through wait_for
mysql_root() { mariadb --no-defaults -S "$STATE/mysql/mysqld.sock" -u root "$@"; }

# MariaDB plus slurmdbd; returns non-zero (after cleaning up) if accounting cannot run.
start_accounting() {
  if ! command -v mariadbd >/dev/null || ! command -v slurmdbd >/dev/null; then
    say "mariadbd or slurmdbd is not installed"
    return 1
  fi
  local data="$STATE/mysql/data"
  if [[ ! -d $data/mysql ]]; then
    mariadb-install-db --no-defaults --datadir="$data" --user=root --skip-test-db \
      --auth-root-authentication-method=socket >"$STATE/log/mariadb-install.log" 2>&1 \
      || { say "mariadb-install-db failed: $(log_tail "$STATE/log/mariadb-install.log")"; return 1; }
  fi
  DB_PORT=$(free_port)
  # mariadbd does not daemonise: run it in its own session, detached from our stdio.
  setsid mariadbd --no-defaults --datadir="$data" --user=root --bind-address=127.0.0.1 \
    --port="$DB_PORT" --socket="$STATE/mysql/mysqld.sock" --pid-file="$STATE/pids/mariadbd.pid" \
    --log-error="$STATE/log/mariadb.log" --skip-name-resolve --innodb-buffer-pool-size=128M \
    --innodb-lock-wait-timeout=900 \
    </dev/null >>"$STATE/log/mariadb.log" 2>&1 &
  echo $! >"$STATE/pids/mariadbd.pid"  # setsid execs in place: the same pid, until
                                       # mariadbd rewrites the file itself
  wait_for "$WAIT_S" mariadbd mysql_root -e 'select 1' \
    || { say "MariaDB did not come up: $(log_tail "$STATE/log/mariadb.log")"; return 1; }
  DB_PASS=$(head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')
  mysql_root <<EOF || { say "cannot create the slurm database user"; return 1; }
CREATE DATABASE IF NOT EXISTS slurm_acct_db;
CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1';
ALTER USER 'slurm'@'127.0.0.1' IDENTIFIED BY '$DB_PASS';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
FLUSH PRIVILEGES;
EOF
  DBD_PORT=$(free_port)
  write_slurmdbd_conf
  slurmdbd >>"$STATE/log/slurmdbd.log" 2>&1 \
    || { say "slurmdbd failed to start: $(log_tail "$STATE/log/slurmdbd.log")"; return 1; }
  wait_for "$WAIT_S" slurmdbd bash -c "exec 3<>/dev/tcp/127.0.0.1/$DBD_PORT" \
    || { say "slurmdbd does not listen: $(log_tail "$STATE/log/slurmdbd.log")"; return 1; }
}

start_slurm() {
  slurmctld >>"$STATE/log/slurmctld.log" 2>&1 \
    || die "slurmctld failed to start: $(log_tail "$STATE/log/slurmctld.log")"
  wait_for "$WAIT_S" slurmctld scontrol ping \
    || die "slurmctld does not answer: $(log_tail "$STATE/log/slurmctld.log")"
  slurmd -N "$HOST" >>"$STATE/log/slurmd.log" 2>&1 \
    || die "slurmd failed to start: $(log_tail "$STATE/log/slurmd.log")"
  wait_for "$WAIT_S" slurmd node_idle \
    || die "node $HOST not idle after ${WAIT_S}s: $(sinfo -h -N -o '%N %T %E' 2>&1 | head -n 3)"
  # slurmctld's first scheduling cycle comes about 3 s after its start; a job submitted
  # before it waits for it (and `sbatch --wait`, polling with back-off, then takes 10 s).
  wait_for "$WAIT_S" slurmctld scheduler_ready \
    || die "slurmctld has not run a scheduling cycle after ${WAIT_S}s"
}

scheduler_ready() { sdiag | grep -Eq 'Total cycles: *[1-9]'; }

no_running_jobs() { [[ -z $(squeue -h -t R,CG -o %i) ]]; }

node_idle() { [[ $(sinfo -h -N -n "$HOST" -o '%T' 2>/dev/null) == idle ]]; }

# Stop one daemon by its pid file: TERM, wait, KILL as a last resort.
stop_daemon() {
  local name=$1 pid i
  if pid=$(live_pid "$name"); then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 300; i++)); do
      running "$pid" || break
      sleep 0.1
    done
    if running "$pid"; then
      say "$name (pid $pid) ignored SIGTERM for 30 s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.5
    fi
  fi
  rm -f "$STATE/pids/$name.pid"
}

# ---------------------------------------------------------------------------- commands

cmd_start() {
  set_state_dir "${1:-}" create
  # Unix socket paths (munge, MariaDB) must stay under 108 bytes.
  ((${#STATE} <= 80)) || die "state dir path too long for unix sockets (${#STATE} > 80 chars): $STATE"
  [[ $(id -u) == 0 ]] || die "start needs root (the daemons run as root)"
  local b
  for b in munged slurmctld slurmd sinfo; do
    command -v "$b" >/dev/null || die "$b not found; run: $0 install"
  done
  for b in "${DAEMONS[@]}"; do
    if live_pid "$b" >/dev/null; then
      die "a cluster is already running in $STATE ($b); stop it first"
    fi
  done
  local t0=$SECONDS
  mkdir -p "$STATE"/{etc,munge,mysql,log,pids,spool/slurmctld,spool/slurmd}
  rm -f "$STATE"/pids/*.pid  # stale ones (none of them is running, checked above)
  chmod 700 "$STATE/munge"
  HOST=$(hostname -s)
  CTLD_PORT=$(free_port)
  SLURMD_PORT=$(free_port)
  # A failed start leaves nothing running.
  trap 'rc=$?; ((rc == 0)) || cmd_stop_quiet; exit $rc' EXIT

  start_munge
  local acct=slurmdbd
  # slurmctld needs slurm.conf's AuthInfo even while slurmdbd starts.
  write_slurm_conf none
  if [[ ${MEMTR_SLURM_ACCOUNTING:-} == none ]]; then
    say "MEMTR_SLURM_ACCOUNTING=none: running without accounting; status command: squeue"
    acct=none
  elif ! start_accounting; then
    say "WARNING: accounting (slurmdbd) could not start; using AccountingStorageType=accounting_storage/none; sacct will not work, use squeue as the status command (see $STATE/status_command)"
    stop_daemon slurmdbd
    stop_daemon mariadbd
    acct=none
  fi
  write_slurm_conf "$acct"
  link_run_conf
  if [[ $acct == slurmdbd ]]; then echo sacct; else echo squeue; fi >"$STATE/status_command"
  start_slurm
  echo "export SLURM_CONF=$CONF" >"$STATE/env"
  trap - EXIT
  say "cluster up in $((SECONDS - t0)) s (node $HOST, accounting: $acct, state: $STATE)"
  echo "export SLURM_CONF=$CONF"
}

cmd_stop_quiet() {
  local d
  for d in "${DAEMONS[@]}"; do stop_daemon "$d"; done
  unlink_run_conf
}

cmd_stop() {
  set_state_dir "${1:-}"
  [[ -d $STATE/pids ]] || die "$STATE holds no cluster (no pids/ folder)"
  # Cancel this cluster's jobs first so that no job step outlives slurmd.
  local jobs=()
  if live_pid slurmctld >/dev/null; then
    mapfile -t jobs < <(squeue -h -o %i 2>/dev/null || true)
  fi
  if ((${#jobs[@]})); then
    scancel --full "${jobs[@]}" 2>/dev/null || true
    wait_for 15 - no_running_jobs || true
  fi
  cmd_stop_quiet
  say "cluster in $STATE stopped"
}

cmd_status() {
  set_state_dir "${1:-}"
  local d pid down=0
  for d in "${DAEMONS[@]}"; do
    if pid=$(live_pid "$d"); then
      printf '%-10s running (pid %s)\n' "$d" "$pid"
    else
      printf '%-10s stopped\n' "$d"
      down=1
    fi
  done
  [[ -f $STATE/status_command ]] && echo "status command: $(cat "$STATE/status_command")"
  if live_pid slurmctld >/dev/null; then
    sinfo -N -o '%N %P %T %C %m' || true
  fi
  # Accounting off is normal (mariadbd/slurmdbd down); Slurm itself must be up.
  if ! live_pid munged >/dev/null || ! live_pid slurmctld >/dev/null \
    || ! live_pid slurmd >/dev/null; then
    echo "slurm_cluster: cluster in $STATE is not (fully) running" >&2
    return 3
  fi
  if ((down)) && ! grep -qx squeue "$STATE/status_command" 2>/dev/null; then
    echo "slurm_cluster: cluster in $STATE: accounting is down" >&2
    return 3
  fi
}

case "${1:-}" in
  install) cmd_install ;;
  start) cmd_start "${2:-}" ;;
  stop) cmd_stop "${2:-}" ;;
  status) cmd_status "${2:-}" ;;
  *) usage ;;
esac
