#!/usr/bin/env bash
# Re-replication speed, RaftMFS beside MooseFS 3.0 (Debian's packages) in the same run: a tree of
# many small files and a few large ones at goal 2 on three chunkservers; one chunkserver holding
# copies is killed (SIGKILL); the time from the kill until no chunk is under its goal (and none is
# missing), as each master reports it. See BENCHMARKS.md, "Restoring redundancy".
#
#   bench/rebuild.sh [--small N] [--large N] [--large-mib M] [--no-build] [--only raftmfs|moosefs]
#
#   --small N      small files, 1-64 KiB each (default 4000)
#   --large N      large files (default 4)
#   --large-mib M  size of each large file (default 256)
#
# RaftMFS runs with REPLICATIONS_DELAY_INIT = 0 and REPLICATIONS_DELAY_DISCONNECT = 0: MooseFS 3.0
# has no disconnection delay (it replicates at once unless the lost server is in maintenance
# mode), and its REPLICATIONS_DELAY_INIT is 0 in bench/moosefs/up.sh. Both use their default
# replication limits (CHUNKS_WRITE_REP_LIMIT = 2,1,1,4, CHUNKS_READ_REP_LIMIT = 10,5,2,5).
# Needs root. Folder: $BENCH_HOME (default /var/tmp/raftmfs-rebuild).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/raftmfs-target}
bin=$CARGO_TARGET_DIR/release
home=${BENCH_HOME:-/var/tmp/raftmfs-rebuild}
export RAFTMFS_HOME=$home/raftmfs MFS_ROOT=$home/moosefs
small=4000 large=4 large_mib=256 build=1 only=
while (($#)); do
  case "$1" in
    --small) small=$2; shift ;;
    --large) large=$2; shift ;;
    --large-mib) large_mib=$2; shift ;;
    --no-build) build=0 ;;
    --only) only=$2; shift ;;
    *) sed -n '2,16p' "$0" >&2; exit 2 ;;
  esac
  shift
done
[ "$(id -u)" -eq 0 ] || { echo "rebuild: run as root" >&2; exit 1; }
t0=$(date +%s)
say() { printf '[rebuild %4ds] %s\n' "$(($(date +%s) - t0))" "$*" >&2; }
cleanup() {
  bash "$repo/deploy/local-cluster.sh" down >/dev/null 2>&1 || true
  bash "$repo/bench/moosefs/down.sh" >/dev/null 2>&1 || true
}
trap cleanup EXIT
mkdir -p "$home"

# ---- the tree, made once, copied into each mount ----
src=$home/tree
if [ ! -f "$src/.done-$small-$large-$large_mib" ]; then
  say "making the tree: $small small files, $large x $large_mib MiB"
  rm -rf "$src" && mkdir -p "$src"
  python3 - "$src" "$small" "$large" "$large_mib" <<'PY'
import os, random, sys
root, small, large, mib = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rnd = random.Random(15)
for i in range(small):
    d = os.path.join(root, "small", f"d{i // 200:03d}")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"f{i:06d}"), "wb") as f:
        f.write(rnd.randbytes(rnd.randint(1, 64) * 1024))
os.makedirs(os.path.join(root, "large"), exist_ok=True)
for i in range(large):
    with open(os.path.join(root, "large", f"L{i}"), "wb") as f:
        for _ in range(mib):
            f.write(rnd.randbytes(1 << 20))
PY
  touch "$src/.done-$small-$large-$large_mib"
fi

if ((build)); then
  say "building"
  (cd "$repo" && cargo build --release -q --bins)
fi

# ---- RaftMFS ----
raft_metric() { # NAME: the leader's value (the only master that exports it)
  local i v
  for i in 1 2 3; do
    v=$(curl -s --max-time 2 "http://127.0.0.1$i:9425/metrics" | awk -v n="$1" '$1 == n { print $2 }')
    [ -n "$v" ] && { echo "${v%.*}"; return; }
  done
  echo ""
}
run_raftmfs() {
  say "RaftMFS: up"
  RAFTMFS_NO_BUILD=1 RAFTMFS_MASTER_EXTRA=$'REPLICATIONS_DELAY_INIT = 0\nREPLICATIONS_DELAY_DISCONNECT = 0' \
    bash "$repo/deploy/local-cluster.sh" up >/dev/null
  local mnt=$RAFTMFS_HOME/mnt
  "$bin/mfssetgoal" -r 2 "$mnt" >/dev/null
  say "RaftMFS: copying the tree"
  cp -a "$src/small" "$src/large" "$mnt/"
  sync
  say "RaftMFS: waiting for every chunk at goal 2"
  local chunks under
  while :; do
    under=$(raft_metric mfsmaster_chunks_under_goal)
    chunks=$(raft_metric mfsmaster_chunks)
    [ "$under" = 0 ] && [ -n "$chunks" ] && [ "$chunks" -gt 0 ] && break
    sleep 1
  done
  local pid start peak=0 missing
  pid=$(cat "$RAFTMFS_HOME/chunkserver1/data/.mfschunkserver.lock")
  say "RaftMFS: $chunks chunks at goal; killing chunkserver 1 (pid $pid)"
  start=$(date +%s.%N)
  kill -9 "$pid"
  # Under goal appears with the next pass, then falls to zero.
  while :; do
    under=$(raft_metric mfsmaster_chunks_under_goal)
    missing=$(raft_metric mfsmaster_chunks_missing)
    [ -n "$under" ] && ((under > peak)) && peak=$under
    ((peak > 0)) && [ "$under" = 0 ] && [ "$missing" = 0 ] && break
    sleep 0.2
  done
  local secs
  secs=$(echo "$(date +%s.%N) - $start" | bc)
  printf 'RaftMFS\t%s\t%s\t%.1f\t%.1f\n' "$chunks" "$peak" "$secs" "$(echo "$peak / $secs" | bc -l)"
  bash "$repo/deploy/local-cluster.sh" down >/dev/null 2>&1 || true
}

# ---- MooseFS ----
mfs_undergoal() { # chunks under goal and missing, from the "regular" goal/copies matrix
  nsenter --net=/run/netns/mfsref mfscli -H 10.42.0.1 -SIC -p 2>/dev/null | python3 "$repo/bench/moosefs/undergoal.py"
}
run_moosefs() {
  say "MooseFS: up"
  bash "$repo/bench/moosefs/up.sh" 2 >/dev/null 2>&1
  local mnt=$MFS_ROOT/mnt
  say "MooseFS: copying the tree"
  cp -a "$src/small" "$src/large" "$mnt/"
  sync
  say "MooseFS: waiting for every chunk at goal 2"
  local state chunks under missing
  while :; do
    read -r chunks under missing < <(mfs_undergoal)
    [ "$under" = 0 ] && [ "$missing" = 0 ] && [ "$chunks" -gt 0 ] && break
    sleep 1
  done
  local pid start peak=0
  pid=$(cat "$MFS_ROOT/cs1/data/.mfschunkserver.lock")
  say "MooseFS: $chunks chunks at goal; killing chunkserver 1 (pid $pid)"
  start=$(date +%s.%N)
  kill -9 "$pid"
  while :; do
    read -r chunks under missing < <(mfs_undergoal)
    ((under > peak)) && peak=$under
    ((peak > 0)) && [ "$under" = 0 ] && [ "$missing" = 0 ] && break
    sleep 0.2
  done
  local secs
  secs=$(echo "$(date +%s.%N) - $start" | bc)
  printf 'MooseFS 3.0\t%s\t%s\t%.1f\t%.1f\n' "$chunks" "$peak" "$secs" "$(echo "$peak / $secs" | bc -l)"
  bash "$repo/bench/moosefs/down.sh" >/dev/null 2>&1 || true
}

printf 'system\tchunks\tunder goal after the kill (peak)\tseconds to none under goal\tchunks per second\n'
[ "$only" = moosefs ] || run_raftmfs
[ "$only" = raftmfs ] || run_moosefs
