#!/usr/bin/env bash
# Where one `create` spends its time: a benchmark, never pass/fail (BENCHMARKS.md, issue 12).
#
#   bench/create-budget.sh [FILES]        (default 4000)
#
# Brings up deploy/local-cluster.sh (3 masters, 3 chunkservers, a mount, on loopback) under
# $RAFTMFS_HOME (default /var/tmp/raftmfs-budget), then measures from one process:
#   - the floor pieces: a FUSE round trip the mount answers itself, one 300-byte write + fdatasync
#     on the disk the masters use;
#   - a loop of open(O_CREAT|O_EXCL) + close of FILES files: the time per create the caller sees;
#   - from the leader's /metrics over that loop: its time per create, lookup and release
#     request, the time from proposing a log entry to its commit and apply, and how many
#     commands shared an entry;
#   - CPU time and voluntary context switches per create of every daemon (/proc).
# $RAFTMFS_MASTER_EXTRA: lines added to every mfsmaster.cfg (e.g. "RAFT_BATCH_MAX_COMMANDS = 1").
# Tears the cluster down at the end. Needs root (mount), python3, curl.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
files=${1:-4000}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/raftmfs-target}
export RAFTMFS_HOME=${RAFTMFS_HOME:-/var/tmp/raftmfs-budget}
bin=$CARGO_TARGET_DIR/release
mnt=$RAFTMFS_HOME/mnt
work=$(mktemp -d)
cleanup() {
  bash "$repo/deploy/local-cluster.sh" down >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
bash "$repo/deploy/local-cluster.sh" down >/dev/null 2>&1 || true
rm -rf "$RAFTMFS_HOME"
bash "$repo/deploy/local-cluster.sh" up >"$work/up.log" 2>&1 || { tail -n 30 "$work/up.log" >&2; exit 1; }
"$bin/mfssettrashtime" -r 0 "$mnt" >/dev/null

python3 - "$mnt" "$RAFTMFS_HOME" <<'PY'
import os, sys, time
mnt, home = sys.argv[1], sys.argv[2]
p = os.path.join(mnt, "probe")
os.close(os.open(p, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
n = 5000
t = time.perf_counter()
for _ in range(n):
    try:
        os.getxattr(p, "security.capability")  # known absent on a file this mount made: no master
    except OSError:
        pass
print("floor: FUSE round trip answered by the mount: %.0f us" % ((time.perf_counter() - t) / n * 1e6))
f = os.path.join(home, "fsync-probe")
fd = os.open(f, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, b"x" * 65536)
os.fsync(fd)
n = 2000
t = time.perf_counter()
for i in range(n):
    os.pwrite(fd, b"y" * 300, (i * 300) % 60000)
    os.fdatasync(fd)
print("floor: 300-byte write + fdatasync on the masters' disk: %.0f us" % ((time.perf_counter() - t) / n * 1e6))
os.close(fd)
os.unlink(f)
PY

leader=
for h in 11 12 13; do
  curl -s "127.0.0.$h:9425/metrics" | grep -q '^mfsmaster_raft_role{role="leader"} 1' && leader=127.0.0.$h
done
[ -n "$leader" ] || { echo "create-budget: no leader found" >&2; exit 1; }
procs() {
  for p in $(pgrep -x mfsmaster) $(pgrep -x mfschunkserver) $(pgrep -x mfsmount); do
    echo "$p $(cat /proc/"$p"/comm) $(awk '{print $14 + $15}' /proc/"$p"/stat) $(awk '/^voluntary_ctxt/ {print $2}' /proc/"$p"/status)"
  done
}
curl -s "$leader:9425/metrics" >"$work/m0"
procs >"$work/p0"
mkdir -p "$mnt/b"
python3 - "$mnt/b" "$files" <<'PY'
import os, sys, time
d, n = sys.argv[1], int(sys.argv[2])
t = time.perf_counter()
for i in range(n):
    os.close(os.open(os.path.join(d, "f%d" % i), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
dt = time.perf_counter() - t
print("caller: %d creates (open O_CREAT|O_EXCL + close), %.0f us each, %.0f/s" % (n, dt / n * 1e6, n / dt))
PY
procs >"$work/p1"
curl -s "$leader:9425/metrics" >"$work/m1"
python3 - "$work" "$files" "$(getconf CLK_TCK)" <<'PY'
import sys
work, n, hz = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def load(f):
    d = {}
    for line in open(f):
        if line.startswith("#"):
            continue
        k, _, v = line.rpartition(" ")
        try:
            d[k] = float(v)
        except ValueError:
            pass
    return d
a, b = load(work + "/m0"), load(work + "/m1")
delta = lambda k: b.get(k, 0) - a.get(k, 0)
for op in ["lookup", "create", "release"]:
    c = delta('mfsmaster_request_duration_seconds_count{op="%s"}' % op)
    s = delta('mfsmaster_request_duration_seconds_sum{op="%s"}' % op)
    if c:
        print("leader: %-7s requests %6d, %5.0f us each (receipt to answer)" % (op, c, s / c * 1e6))
c, s = delta("mfsmaster_raft_commit_duration_seconds_count"), delta("mfsmaster_raft_commit_duration_seconds_sum")
if c:
    print("leader: log entries %d, %.0f us each from proposal to committed and applied" % (c, s / c * 1e6))
print("leader: %d commands proposed in %d entries" % (delta("mfsmaster_raft_proposals_total"), delta("mfsmaster_raft_proposal_entries_total")))
p0 = {l.split()[0]: l.split() for l in open(work + "/p0")}
for line in open(work + "/p1"):
    pid, comm, ticks, vcsw = line.split()
    if pid in p0:
        cpu = (int(ticks) - int(p0[pid][2])) / hz / n * 1e6
        cs = (int(vcsw) - int(p0[pid][3])) / n
        print("cpu: %-15s pid %-7s %5.0f us and %4.1f context switches per create" % (comm, pid, cpu, cs))
PY
