# Sourced by the tests/compare scripts: brings up MooseFS 3.0 (bench/moosefs/up.sh, goal 1) and a
# RaftMFS local cluster (deploy/local-cluster.sh), both torn down on exit with the extra mounts
# the script lists in $extra_mounts, and compares two transcripts.
#   $repo $bin $work         the repository, the RaftMFS binaries, a scratch folder
#   $MFS_ROOT/mnt $RAFTMFS_HOME/mnt   the two file mounts
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/raftmfs-target}
export RAFTMFS_HOME=${RAFTMFS_HOME:-/var/tmp/raftmfs-compare}
export MFS_ROOT=${MFS_ROOT:-/tmp/moosefs-compare}
bin=$CARGO_TARGET_DIR/release
work=$(mktemp -d)
extra_mounts=()

compare_cleanup() {
  for m in "${extra_mounts[@]}"; do
    mountpoint -q "$m" && { fusermount3 -u "$m" 2>/dev/null || umount -l "$m"; }
  done
  bash "$repo/bench/moosefs/down.sh" >/dev/null 2>&1 || true
  bash "$repo/deploy/local-cluster.sh" down >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap compare_cleanup EXIT

bash "$repo/bench/moosefs/up.sh" 1 >"$work/mfs-up.log" 2>&1 || { tail -n 20 "$work/mfs-up.log" >&2; exit 1; }
bash "$repo/deploy/local-cluster.sh" down >/dev/null 2>&1 || true
rm -rf "$RAFTMFS_HOME"
# A script that sets raft_exports=1 before sourcing this file gets an exports file for the RaftMFS
# masters ($raft_exports_file, MooseFS's sample rules to start with), to rewrite and reload.
if [ -n "${raft_exports:-}" ]; then
  raft_exports_file=$work/raft-exports.cfg
  printf '%s\n' '*  /  rw,alldirs,admin,maproot=0' '*  .  rw' >"$raft_exports_file"
  export RAFTMFS_MASTER_EXTRA="EXPORTS_FILENAME = $raft_exports_file"
fi
bash "$repo/deploy/local-cluster.sh" up >"$work/raft-up.log" 2>&1 || { tail -n 20 "$work/raft-up.log" >&2; exit 1; }

# compare WHAT MOOSEFS_TRANSCRIPT RAFTMFS_TRANSCRIPT: diff them; exit 1 when they differ.
compare() {
  if diff -u --label MooseFS --label RaftMFS "$2" "$3"; then
    echo "$1: RaftMFS and MooseFS agree on $(wc -l <"$3") observations"
  else
    echo "$1: RaftMFS differs from MooseFS (above)" >&2
    exit 1
  fi
}

# A RaftMFS mount of its own for the steps ($raft_mnt), with MooseFS's default entry cache (0: every
# path is looked up again, so a name a tool replaced is seen at once), reachable by other users.
raft_compare_mount() {
  raft_mnt=$work/raft-mnt
  mkdir -p "$raft_mnt"
  chmod 755 "$work"
  extra_mounts=("$raft_mnt")
  "$bin/mfsmount" "$raft_mnt" -H 127.0.0.11,127.0.0.12,127.0.0.13 -o mfsentrycacheto=0 >/dev/null
}

# Helpers of the steps: `t TOOL ARGS` runs a tool the way the caller's $via says; `rc CMD` prints
# the exit code (output kept in $work/o for `says TEXT`); `out CMD` prints the output on one line;
# `quiet CMD` runs a set-up step whose outcome the next observation shows.
t() { local tool=$1; shift; $via "$tool" "$@"; }
rc() { "$@" >"$work/o" 2>&1; echo $?; }
out() { "$@" 2>&1 | tr '\n' '|'; }
says() { grep -q "$1" "$work/o" && echo "says '$1'" || echo "does not say '$1': $(cat "$work/o")"; }
quiet() { "$@" >/dev/null 2>&1 || true; }
