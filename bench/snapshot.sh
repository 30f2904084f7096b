#!/usr/bin/env bash
# Snapshot cost, RaftMFS beside MooseFS 3.0 (issue 13): write a file of SIZE_MIB (default 1024),
# then time `mfsmakesnapshot` of it, count the chunk files on the chunkservers before and after
# (a lazy copy adds none), and time the first 4 KiB write into the copy (one 64 MiB chunk
# duplicated on the chunkservers) and a second one (the copy is the writer's own by then).
# Not pass/fail: numbers for BENCHMARKS.md. Needs root; stops what it starts.
#   bench/snapshot.sh [SIZE_MIB]        (RAFTMFS_NO_BUILD=1: use the built binaries)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
size=${1:-1024}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/raftmfs-target}
export RAFTMFS_HOME=${RAFTMFS_HOME:-/var/tmp/raftmfs-snapbench}
export MFS_ROOT=${MFS_ROOT:-/tmp/moosefs-snapbench}
bin=$CARGO_TARGET_DIR/release
cleanup() {
  bash "$repo/bench/moosefs/down.sh" >/dev/null 2>&1 || true
  bash "$repo/deploy/local-cluster.sh" down >/dev/null 2>&1 || true
}
trap cleanup EXIT
bash "$repo/bench/moosefs/up.sh" 1 >/dev/null 2>&1
bash "$repo/deploy/local-cluster.sh" down >/dev/null 2>&1 || true
rm -rf "$RAFTMFS_HOME"
bash "$repo/deploy/local-cluster.sh" up >/dev/null 2>&1

now() { date +%s.%N; }
ms() { echo "$1 $2" | awk '{printf "%.0f", ($2 - $1) * 1000}'; }
chunk_files() { find "$@" -name 'chunk_*.mfs' 2>/dev/null | wc -l; }

# run NAME MOUNT "TOOL PREFIX" CHUNK_DIRS...
run() {
  local name=$1 mnt=$2 via=$3
  shift 3
  dd if=/dev/zero of="$mnt/big" bs=1M count="$size" conv=fsync status=none
  sleep 2 # let the chunkservers finish closing the written chunks
  local before t0 t1 t2 t3 after
  before=$(chunk_files "$@")
  t0=$(now)
  $via mfsmakesnapshot "$mnt/big" "$mnt/copy"
  t1=$(now)
  after=$(chunk_files "$@")
  printf 'x%.0s' $(seq 4096) | dd of="$mnt/copy" bs=4096 seek=1000 conv=notrunc,fsync status=none
  t2=$(now)
  printf 'y%.0s' $(seq 4096) | dd of="$mnt/copy" bs=4096 seek=1001 conv=notrunc,fsync status=none
  t3=$(now)
  echo "$name: ${size} MiB file; mfsmakesnapshot $(ms "$t0" "$t1") ms; chunk files $before -> $after;" \
    "first 4 KiB write into the copy $(ms "$t1" "$t2") ms (chunk files now $(chunk_files "$@")); next one $(ms "$t2" "$t3") ms"
}
run RaftMFS "$RAFTMFS_HOME/mnt" "env PATH=$bin:$PATH" "$RAFTMFS_HOME"/chunkserver*
run MooseFS "$MFS_ROOT/mnt" "bash $repo/bench/moosefs/ns.sh" "$MFS_ROOT"
