#!/usr/bin/env bash
# A local RaftMFS cluster on loopback, all data under one folder.
#   deploy/local-cluster.sh up      build, then start 3 masters (127.0.0.11-13)
#   deploy/local-cluster.sh status  show every master's Raft role and indexes
#   deploy/local-cluster.sh down    stop everything
# Folder: $RAFTMFS_HOME (default /var/tmp/raftmfs-local). Chunkservers and the mount join
# this script when they exist (issues 3 and 4).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
home=${RAFTMFS_HOME:-/var/tmp/raftmfs-local}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/raftmfs-target}
bin=$CARGO_TARGET_DIR/release
peers="1@127.0.0.11,2@127.0.0.12,3@127.0.0.13"

up() {
  bash "$here/scripts/install-deps.sh"
  (cd "$here" && cargo build --release --workspace --bins)
  for i in 1 2 3; do
    d=$home/master$i
    mkdir -p "$d/data"
    cat >"$d/mfsmaster.cfg" <<CFG
# RaftMFS master $i of the local cluster (MooseFS mfsmaster.cfg format).
DATA_PATH = $d/data
RAFT_NODE_ID = $i
RAFT_PEERS = $peers
CFG
    "$bin/mfsmaster" -c "$d/mfsmaster.cfg" status >/dev/null 2>&1 || "$bin/mfsmaster" -c "$d/mfsmaster.cfg" start
  done
  for _ in $(seq 1 100); do
    "$bin/mfscli" -H 127.0.0.11:9425,127.0.0.12:9425,127.0.0.13:9425 2>/dev/null | grep -q "leader .* ok" && break
    sleep 0.2
  done
  "$bin/mfscli" -H 127.0.0.11:9425,127.0.0.12:9425,127.0.0.13:9425
  cat <<TXT

RaftMFS local cluster is up.
  data and logs:  $home/master{1,2,3}/data   (mfsmaster.log there)
  clients:        127.0.0.11:9421,127.0.0.12:9421,127.0.0.13:9421
  metrics:        http://127.0.0.11:9425/metrics   status: $bin/mfscli -H 127.0.0.11:9425,127.0.0.12:9425,127.0.0.13:9425
  stop:           $0 down
TXT
}

down() {
  for i in 1 2 3; do
    cfg=$home/master$i/mfsmaster.cfg
    [ -f "$cfg" ] && [ -x "$bin/mfsmaster" ] && "$bin/mfsmaster" -c "$cfg" stop || true
  done
}

case "${1:-up}" in
  up) up ;;
  down) down ;;
  status) "$bin/mfscli" -H 127.0.0.11:9425,127.0.0.12:9425,127.0.0.13:9425 ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
