#!/usr/bin/env bash
# Failover helpers for the MooseFS started by bench/moosefs/up.sh (the side-by-side benchmark's
# counterpart of deploy/local-cluster.sh kill-leader / wait-healthy).
#   moosefs-ctl.sh kill-master   SIGKILL mfsmaster and start it again at once, with -a (recover the
#                                metadata from the changelogs: after a crash it refuses to start
#                                without it). That is all MooseFS Community offers: one master.
#   moosefs-ctl.sh freeze-master SECS  SIGSTOP mfsmaster, SIGCONT it SECS later (a frozen VM or a
#                                stuck host; the counterpart of local-cluster.sh freeze-leader)
#   moosefs-ctl.sh wait-healthy  wait (up to 60 s) until the master answers with 3 chunkservers
# Folder: $MFS_ROOT (default /tmp/moosefs-ref), as for up.sh.
set -euo pipefail
root=${MFS_ROOT:-/tmp/moosefs-ref}
cfg=$root/master/mfsmaster.cfg
ip=10.42.0.1
in_ns() { nsenter --net=/run/netns/mfsref "$@"; }

# True while the process exists and is not a zombie (init here reaps orphans only every second or
# two; a zombie holds no lock and no socket).
alive() { [ -r "/proc/$1/stat" ] && [ "$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)" != Z ]; }

kill_master() {
  local pid kids p
  pid=$(cat "$root/master/.mfsmaster.lock" 2>/dev/null || true)
  [ -n "$pid" ] && alive "$pid" || { echo "mfsmaster is not running" >&2; exit 1; }
  kids=$(pgrep -P "$pid" || true)
  kill -9 "$pid"
  for p in $pid $kids; do
    while alive "$p"; do sleep 0.01; done
  done
  in_ns mfsmaster -a -c "$cfg" start >/dev/null 2>&1
  echo "killed mfsmaster (pid $pid) and started it again with -a"
}

freeze_master() {
  local pid secs=${1:?freeze-master SECS}
  pid=$(cat "$root/master/.mfsmaster.lock" 2>/dev/null || true)
  [ -n "$pid" ] && alive "$pid" || { echo "mfsmaster is not running" >&2; exit 1; }
  kill -STOP "$pid"
  trap 'kill -CONT '"$pid"' 2>/dev/null || true' EXIT
  sleep "$secs"
  kill -CONT "$pid"
  echo "froze mfsmaster (pid $pid) for $secs s"
}

wait_healthy() {
  for _ in $(seq 1 300); do
    [ "$(in_ns mfscli -H "$ip" -SCS 2>/dev/null | grep -c "^chunk servers:.*$ip")" -ge 3 ] && return 0
    sleep 0.2
  done
  echo "MooseFS: fewer than 3 chunkservers connected after 60 s" >&2
  exit 1
}

case "${1:-}" in
  kill-master) kill_master ;;
  freeze-master) freeze_master "${2:-}" ;;
  wait-healthy) wait_healthy ;;
  *) echo "usage: $0 kill-master|freeze-master SECS|wait-healthy" >&2; exit 2 ;;
esac
