#!/usr/bin/env bash
# A local RaftMFS cluster on loopback, all data under one folder.
#   deploy/local-cluster.sh up      build, then start 3 masters (127.0.0.11-13), 3 chunkservers
#                                   (127.0.0.21-23) and a mount at $RAFTMFS_HOME/mnt
#   deploy/local-cluster.sh status  show every master's Raft role and indexes
#   deploy/local-cluster.sh down    unmount and stop everything
#   deploy/local-cluster.sh kill-leader   SIGKILL the Raft leader and start it again at once
#   deploy/local-cluster.sh wait-healthy  wait (up to 60 s) until all 3 masters are in the quorum
#   deploy/local-cluster.sh freeze-leader SECS  SIGSTOP the Raft leader, SIGCONT it SECS later (a
#                                   frozen VM or a stuck host: no connection is reset)
#   deploy/local-cluster.sh freeze-follower SECS  the same for a master that is not the leader
#   deploy/local-cluster.sh freeze-chunkserver SECS  the same for chunkserver 1
#   deploy/local-cluster.sh isolate-leader SECS drop every packet to and from the leader's address
#                                   for SECS (a pulled cable: nftables on loopback, needs root)
#   deploy/local-cluster.sh cut-leader SECS     drop packets between the leader and the other
#                                   masters only (clients and chunkservers still reach it)
#   deploy/local-cluster.sh isolate-follower SECS  isolate-leader for a master that is not the leader
# Folder: $RAFTMFS_HOME (default /var/tmp/raftmfs-local). RAFTMFS_NO_BUILD=1: use the binaries
# already in $CARGO_TARGET_DIR/release instead of building first.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
home=${RAFTMFS_HOME:-/var/tmp/raftmfs-local}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/raftmfs-target}
bin=$CARGO_TARGET_DIR/release
peers="1@127.0.0.11,2@127.0.0.12,3@127.0.0.13"
http="127.0.0.11:9425,127.0.0.12:9425,127.0.0.13:9425"
masters="127.0.0.11,127.0.0.12,127.0.0.13"
mnt=$home/mnt

up() {
  bash "$here/scripts/install-deps.sh"
  [ -n "${RAFTMFS_NO_BUILD:-}" ] || (cd "$here" && cargo build --release --workspace --bins)
  for i in 1 2 3; do
    d=$home/master$i
    mkdir -p "$d/data"
    cat >"$d/mfsmaster.cfg" <<CFG
# RaftMFS master $i of the local cluster (MooseFS mfsmaster.cfg format).
DATA_PATH = $d/data
RAFT_NODE_ID = $i
RAFT_PEERS = $peers
REPLICATIONS_DELAY_INIT = 10
${RAFTMFS_MASTER_EXTRA:-}
CFG
    "$bin/mfsmaster" -c "$d/mfsmaster.cfg" status >/dev/null 2>&1 || "$bin/mfsmaster" -c "$d/mfsmaster.cfg" start
  done
  for _ in $(seq 1 150); do
    "$bin/mfscli" -H "$http" 2>/dev/null | grep -q "leader .* ok" && break
    sleep 0.2
  done
  for i in 1 2 3; do
    d=$home/chunkserver$i
    mkdir -p "$d/data" "$d/hdd"
    echo "$d/hdd" >"$d/mfshdd.cfg"
    cat >"$d/mfschunkserver.cfg" <<CFG
# RaftMFS chunkserver $i of the local cluster (MooseFS mfschunkserver.cfg format).
DATA_PATH = $d/data
MASTER_HOST = $masters
CSSERV_LISTEN_HOST = 127.0.0.2$i
HDD_CONF_FILENAME = $d/mfshdd.cfg
HDD_LEAVE_SPACE_DEFAULT = 1GiB
CFG
    "$bin/mfschunkserver" -c "$d/mfschunkserver.cfg" status >/dev/null 2>&1 ||
      "$bin/mfschunkserver" -c "$d/mfschunkserver.cfg" start
  done
  mkdir -p "$mnt"
  if ! mountpoint -q "$mnt"; then
    "$bin/mfsmount" "$mnt" -H "$masters" -o mfslogfile="$home/mfsmount.log"
  fi
  "$bin/mfscli" -H "$http"
  cat <<TXT

RaftMFS local cluster is up.
  mount:          $mnt        (try: cp -a /usr/share/doc $mnt/ && $bin/mfsfileinfo $mnt/doc/*/copyright | head)
  data and logs:  $home/{master,chunkserver}{1,2,3}/data   (mfsmaster.log / mfschunkserver.log there)
  masters:        $masters (clients :9421, chunkservers :9420, HTTP :9425)
  chunkservers:   127.0.0.21-23 (data :9422, HTTP :9427)
  metrics:        http://127.0.0.11:9425/metrics    status: $bin/mfscli -H $http
  tools:          $bin/mfs{get,set,copy}goal, mfs{get,set,copy}trashtime, mfsfileinfo, mfscheckfile, mfsdirinfo, mfsfilepaths, mfsfilerepair, mfsmakesnapshot, mfsrmsnapshot, mfsappendchunks, mfs{get,set,del,copy}eattr, mfs{get,set,del,copy}quota
  stop:           $0 down
TXT
}

down() {
  if mountpoint -q "$mnt" 2>/dev/null; then
    fusermount3 -u "$mnt" 2>/dev/null || umount -l "$mnt" || true
  fi
  for i in 1 2 3; do
    cfg=$home/chunkserver$i/mfschunkserver.cfg
    [ -f "$cfg" ] && [ -x "$bin/mfschunkserver" ] && "$bin/mfschunkserver" -c "$cfg" stop || true
  done
  for i in 1 2 3; do
    cfg=$home/master$i/mfsmaster.cfg
    [ -f "$cfg" ] && [ -x "$bin/mfsmaster" ] && "$bin/mfsmaster" -c "$cfg" stop || true
  done
}

# The master number (1-3) that is leader now, or nothing.
leader() {
  "$bin/mfscli" -H "$http" 2>/dev/null | awk '$3 == "leader" && $NF == "ok" { print $2; exit }'
}

kill_leader() {
  local n pid
  n=$(leader)
  [ -n "$n" ] || { echo "no leader to kill" >&2; exit 1; }
  pid=$(cat "$home/master$n/data/.mfsmaster.lock" 2>/dev/null || true)
  [ -n "$pid" ] || { echo "master $n: no pid in its lock file" >&2; exit 1; }
  kill -9 "$pid"
  while kill -0 "$pid" 2>/dev/null; do sleep 0.01; done
  "$bin/mfsmaster" -c "$home/master$n/mfsmaster.cfg" start >/dev/null
  echo "killed master $n (pid $pid) and started it again"
}

# SIGSTOP the daemon whose lock file is $1, SIGCONT it $3 seconds later; $2 names it.
freeze_pid() {
  local lock=$1 what=$2 secs=${3:?SECS} pid
  pid=$(cat "$lock" 2>/dev/null || true)
  [ -n "$pid" ] || { echo "$what: no pid in $lock" >&2; exit 1; }
  kill -STOP "$pid"
  trap 'kill -CONT '"$pid"' 2>/dev/null || true' EXIT
  sleep "$secs"
  kill -CONT "$pid"
  echo "froze $what (pid $pid) for $secs s"
}

freeze_master() {
  local which=$1 n
  n=$(leader)
  [ -n "$n" ] || { echo "no leader" >&2; exit 1; }
  [ "$which" = leader ] || n=$(( n % 3 + 1 ))
  freeze_pid "$home/master$n/data/.mfsmaster.lock" "master $n" "${2:-}"
}

# Drop packets of the leader's address for SECS with an nftables table of our own (removed
# afterwards, also when interrupted): `isolate` drops all of them, `cut` those between the leader
# and the other masters.
net_fault() {
  local kind=$1 secs=${2:?$1-leader SECS} n ip t=raftmfs_fault
  command -v nft >/dev/null || { echo "nft is missing (apt-get install -y nftables)" >&2; exit 1; }
  n=$(leader)
  [ -n "$n" ] || { echo "no leader" >&2; exit 1; }
  [ "${3:-leader}" = leader ] || n=$(( n % 3 + 1 ))
  ip=127.0.0.1$n
  nft delete table inet $t 2>/dev/null || true
  trap 'nft delete table inet '"$t"' 2>/dev/null || true' EXIT
  nft add table inet $t
  nft add chain inet $t in '{ type filter hook input priority 0; policy accept; }'
  if [ "$kind" = isolate ]; then
    nft add rule inet $t in ip saddr "$ip" drop
    nft add rule inet $t in ip daddr "$ip" drop
  else
    for f in 1 2 3; do
      [ "$f" = "$n" ] && continue
      nft add rule inet $t in ip saddr "$ip" ip daddr "127.0.0.1$f" drop
      nft add rule inet $t in ip saddr "127.0.0.1$f" ip daddr "$ip" drop
    done
  fi
  sleep "$secs"
  nft delete table inet $t
  echo "${kind}: master $n for $secs s"
}

wait_healthy() {
  for _ in $(seq 1 300); do
    [ "$("$bin/mfscli" -H "$http" 2>/dev/null | grep -c ' ok$')" -eq 3 ] && [ -n "$(leader)" ] && return 0
    sleep 0.2
  done
  echo "the masters did not all rejoin within 60 s" >&2
  "$bin/mfscli" -H "$http" >&2 || true
  exit 1
}

case "${1:-up}" in
  up) up ;;
  down) down ;;
  status) "$bin/mfscli" -H "$http" ;;
  kill-leader) kill_leader ;;
  wait-healthy) wait_healthy ;;
  freeze-leader) freeze_master leader "${2:-}" ;;
  freeze-follower) freeze_master follower "${2:-}" ;;
  freeze-chunkserver) freeze_pid "$home/chunkserver1/data/.mfschunkserver.lock" "chunkserver 1" "${2:-}" ;;
  isolate-leader) net_fault isolate "${2:-}" ;;
  cut-leader) net_fault cut "${2:-}" ;;
  isolate-follower) net_fault isolate "${2:-}" follower ;;
  *) echo "usage: $0 up|down|status|kill-leader|wait-healthy|freeze-leader SECS|freeze-follower SECS|freeze-chunkserver SECS|isolate-leader SECS|cut-leader SECS|isolate-follower SECS" >&2; exit 2 ;;
esac
