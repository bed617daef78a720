# shellcheck shell=bash
# Shared helpers for .ci/services/*.sh. Source it, then call `svc_init NAME`.
#
# Conventions:
#   - all human-readable output goes to stderr (stdout is reserved for `env`,
#     whose output callers `eval`);
#   - state (data, pid files, logs) lives in $REPO/.ci/.state/<service>/,
#     download caches in $REPO/.ci/.cache/;
#   - every background process is started in its own session/process group
#     (setsid), so `stop` can signal the whole group.

set -euo pipefail
set +m # no job control: `setsid` must not fork, so $! is the process itself

CI_SERVICES_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$CI_SERVICES_DIR/../.." && pwd)"
CI_STATE_ROOT="$REPO/.ci/.state"
CI_CACHE_ROOT="$REPO/.ci/.cache"

SVC=""
STATE=""
LOG_DIR=""
RUN_DIR=""

svc_init() {
  SVC="$1"
  STATE="$CI_STATE_ROOT/$SVC"
  LOG_DIR="$STATE/log"
  RUN_DIR="$STATE/run"
  mkdir -p "$STATE" "$LOG_DIR" "$RUN_DIR" "$CI_CACHE_ROOT"
}

log() { printf '[%s %s] %s\n' "$(date +%H:%M:%S)" "${SVC:-ci}" "$*" >&2; }

die() {
  log "ERROR: $*"
  exit 1
}

# tail_log FILE [N]: print the last N lines of a log to stderr, indented.
tail_log() {
  local f="$1" n="${2:-40}"
  if [ -s "$f" ]; then
    log "---- last $n lines of $f ----"
    tail -n "$n" "$f" | sed 's/^/    /' >&2
    log "---- end of $f ----"
  else
    log "(log $f is empty or missing)"
  fi
}

# die_with_log MSG FILE...: error out showing the tail of each log file.
die_with_log() {
  local msg="$1"
  shift
  log "ERROR: $msg"
  local f
  for f in "$@"; do tail_log "$f"; done
  exit 1
}

# step DESC LOGFILE CMD...: run a noisy command with its output appended to
# LOGFILE; one line on stderr; on failure show the log tail and exit.
step() {
  local desc="$1" logf="$2"
  shift 2
  log "$desc (log: $logf)"
  {
    echo "==== $(date '+%F %T') $desc"
    echo "==== \$ $*"
  } >>"$logf"
  if ! "$@" >>"$logf" 2>&1 </dev/null; then
    die_with_log "$desc failed" "$logf"
  fi
}

now_s() { date +%s; }

# ---------------------------------------------------------------- processes

# pid_read NAME -> prints the recorded pid (empty if none)
pid_file() { echo "$RUN_DIR/$1.pid"; }

pid_read() {
  local f
  f="$(pid_file "$1")"
  if [ -s "$f" ]; then tr -dc '0-9' <"$f"; fi
}

# proc_running PID: the process exists and is not a zombie (a killed daemon
# stays a zombie until init reaps it, and `kill -0` succeeds on zombies)
proc_running() {
  local pid="$1" st
  kill -0 "$pid" 2>/dev/null || return 1
  if [ -r "/proc/$pid/stat" ]; then
    st="$(sed -e 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1)"
    [ -n "$st" ] || return 1
    [ "$st" != "Z" ] && [ "$st" != "X" ] || return 1
  fi
  return 0
}

# pid_alive NAME [CMDLINE_SUBSTRING]: true if the recorded pid runs and (if
# given) its command line contains the substring (guards against pid reuse).
pid_alive() {
  local name="$1" want="${2:-}" pid cmd
  pid="$(pid_read "$name")"
  [ -n "$pid" ] || return 1
  proc_running "$pid" || return 1
  if [ -n "$want" ]; then
    cmd="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)"
    case "$cmd" in *"$want"*) ;; *) return 1 ;; esac
  fi
  return 0
}

# start_bg NAME LOGFILE CMD...: start CMD detached in a new session, stdout and
# stderr to LOGFILE, stdin from /dev/null; record its pid.
start_bg() {
  local name="$1" logf="$2"
  shift 2
  # one log per run; the previous run's log is kept as LOGFILE.1
  if [ -f "$logf" ]; then mv -f "$logf" "$logf.1"; fi
  echo "==== $(date '+%F %T') starting: $*" >>"$logf"
  setsid "$@" >>"$logf" 2>&1 </dev/null &
  local pid=$!
  echo "$pid" >"$(pid_file "$name")"
  log "started $name (pid $pid)"
}

# pids of a process group (empty if none)
pgrp_pids() {
  ps -e -o pid=,pgid= 2>/dev/null | awk -v g="$1" '$2 == g { print $1 }'
}

# descendants of a pid (children, grandchildren...), in case something left
# its process group
descendants() {
  local p="$1" c
  for c in $(ps -e -o pid=,ppid= 2>/dev/null | awk -v p="$p" '$2 == p { print $1 }'); do
    echo "$c"
    descendants "$c"
  done
}

# stop_proc NAME [FIRST_SIGNAL] [TIMEOUT_S] [CMDLINE_SUBSTRING]
# Signal the recorded process (and its process group and descendants), wait
# for them to exit, escalate to SIGKILL after TIMEOUT_S. Never fails.
stop_proc() {
  local name="$1" sig="${2:-TERM}" timeout="${3:-20}" want="${4:-}"
  local pidf pid pgid targets t deadline
  pidf="$(pid_file "$name")"
  pid="$(pid_read "$name")"
  if [ -z "$pid" ]; then
    rm -f "$pidf"
    return 0
  fi
  if ! pid_alive "$name" "$want"; then
    log "$name not running (stale pid $pid)"
    rm -f "$pidf"
    return 0
  fi
  pgid="$(ps -o pgid= -p "$pid" 2>/dev/null | tr -d ' ' || true)"
  targets="$pid $(descendants "$pid" | tr '\n' ' ')"
  # only signal the group if the process leads it (it was started with setsid)
  if [ -n "$pgid" ] && [ "$pgid" = "$pid" ]; then
    targets="$targets $(pgrp_pids "$pgid" | tr '\n' ' ')"
  fi
  log "stopping $name (pid $pid, SIG$sig)"
  kill -s "$sig" "$pid" 2>/dev/null || true
  if [ "$sig" = "TERM" ] && [ "$pgid" = "$pid" ]; then
    kill -s TERM -- "-$pgid" 2>/dev/null || true
  fi
  deadline=$(($(now_s) + timeout))
  while :; do
    local alive=""
    for t in $targets; do
      if proc_running "$t"; then alive="$alive $t"; fi
    done
    [ -n "$alive" ] || break
    if [ "$(now_s)" -ge "$deadline" ]; then
      log "$name did not exit within ${timeout}s; SIGKILL$alive"
      if [ "$pgid" = "$pid" ]; then kill -s KILL -- "-$pgid" 2>/dev/null || true; fi
      for t in $alive; do kill -s KILL "$t" 2>/dev/null || true; done
      sleep 0.5
      break
    fi
    sleep 0.2
  done
  rm -f "$pidf"
}

# ---------------------------------------------------------------- network

# port_open PORT [HOST]: something accepts TCP connections
port_open() {
  local port="$1" host="${2:-127.0.0.1}"
  timeout 2 bash -c "exec 3<>/dev/tcp/$host/$port" 2>/dev/null
}

# port_owner_pids PORT: pids listening on 127.0.0.1:PORT (best effort, needs ss)
port_owner_desc() {
  if command -v ss >/dev/null 2>&1; then
    ss -ltnpH "sport = :$1" 2>/dev/null | head -3 || true
  fi
}

# require_port_free PORT: fail if something already listens on the port
require_port_free() {
  if port_open "$1"; then
    die "port 127.0.0.1:$1 is already in use by another process: $(port_owner_desc "$1")"
  fi
}

# wait_until TIMEOUT_S DESC CHECK_FN [WATCH_PID_NAME] [LOGFILES...]
# Poll CHECK_FN until it succeeds. Fails early if the watched process died.
wait_until() {
  local timeout="$1" desc="$2" check="$3" watch="${4:-}"
  shift 4 || shift $#
  local deadline start
  start=$(now_s)
  deadline=$((start + timeout))
  while :; do
    if "$check" >/dev/null 2>&1; then
      log "$desc: ready after $(($(now_s) - start))s"
      return 0
    fi
    if [ -n "$watch" ] && ! pid_alive "$watch"; then
      die_with_log "$desc: process '$watch' exited before becoming ready" "$@"
    fi
    if [ "$(now_s)" -ge "$deadline" ]; then
      die_with_log "$desc: not ready after ${timeout}s" "$@"
    fi
    sleep 0.5
  done
}

# ---------------------------------------------------------------- users

is_root() { [ "$(id -u)" = 0 ]; }

# ensure_user NAME: create a system user if missing (root only)
ensure_user() {
  local u="$1"
  if ! id "$u" >/dev/null 2>&1; then
    is_root || die "user $u does not exist and we are not root"
    log "creating system user $u"
    useradd --system --user-group --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin "$u"
  fi
}

# as_user USER: set the array AS_USER to a command prefix that runs a command
# as USER (exec-style privilege drop, no extra process) when we are root, or
# to nothing otherwise. Use as: start_bg name log "${AS_USER[@]}" cmd args...
AS_USER=()
as_user() {
  local u="$1"
  if is_root && [ "$u" != root ]; then
    AS_USER=(setpriv "--reuid=$u" "--regid=$(id -g "$u")" --init-groups --)
  else
    AS_USER=()
  fi
}

# run_as USER CMD...: run CMD as USER (see as_user)
run_as() {
  as_user "$1"
  shift
  "${AS_USER[@]}" "$@"
}

# user_can_write USER DIR: can USER create files in DIR (checks path traversal)
user_can_write() {
  local u="$1" d="$2"
  run_as "$u" test -w "$d" -a -x "$d"
}

# service_data_dir USER NAME: a directory for NAME owned by USER.
# Normally $STATE/NAME; if USER cannot reach $STATE (e.g. the repo is under
# /root with mode 700) it is placed under /var/tmp and $STATE/NAME becomes a
# symlink to it.
service_data_dir() {
  local u="$1" name="$2" d="$STATE/$2"
  if [ -L "$d" ]; then
    d="$(readlink -f "$d")"
    mkdir -p "$d"
  else
    mkdir -p "$d"
  fi
  if is_root && [ "$u" != root ]; then
    chown "$u:$(id -gn "$u")" "$d"
    if ! user_can_write "$u" "$d"; then
      local alt
      alt="/var/tmp/qlora-dml-ci-$(printf '%s' "$REPO" | cksum | cut -d' ' -f1)/$SVC-$name"
      log "user $u cannot reach $d (parent directory permissions); using $alt"
      # new link => new state: drop whatever an earlier clone at this path left
      rm -rf "$alt"
      mkdir -p "$alt"
      chmod 755 "$(dirname "$alt")"
      chown "$u:$(id -gn "$u")" "$alt"
      rm -rf "${STATE:?}/${name:?}"
      ln -s "$alt" "$STATE/$name"
      d="$alt"
    fi
  fi
  echo "$d"
}

# ---------------------------------------------------------------- packages

# apt_ensure PKG...: install the Debian packages that are not installed yet.
# Services are not started by the packages (policy-rc.d is forced to 101).
apt_ensure() {
  local missing=() p
  for p in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
      missing+=("$p")
    fi
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  is_root || die "missing Debian packages: ${missing[*]} (run as root or install them: apt-get install ${missing[*]})"
  local aptlog="$CI_CACHE_ROOT/apt.log"
  local created_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    created_policy=1
  fi
  local rc=0
  log "apt-get install ${missing[*]} (log: $aptlog)"
  {
    echo "==== $(date '+%F %T') apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 update &&
      echo "==== apt-get install ${missing[*]}" &&
      DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${missing[@]}"
  } >>"$aptlog" 2>&1 </dev/null || rc=$?
  [ -n "$created_policy" ] && rm -f /usr/sbin/policy-rc.d
  [ "$rc" = 0 ] || die_with_log "apt-get install ${missing[*]} failed" "$aptlog"
}

# usage SCRIPTNAME
usage() {
  echo "usage: $1 start|stop|env|status" >&2
  exit 2
}
