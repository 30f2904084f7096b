#!/usr/bin/env bash
# The side-by-side benchmark: RaftMFS, MooseFS 3.0 (Debian's packages) and a plain local folder, on
# one machine and one disk, the same workloads interleaved (RaftMFS, MooseFS, local, RaftMFS, ...),
# medians of several rounds, one table of figures and ratios. See BENCHMARKS.md.
#
#   bench/side-by-side.sh [--smoke] [--rounds N] [--no-write-md] [--no-failover] [--no-build]
#
#   --smoke        tiny sizes, one round, one kill each; never writes BENCHMARKS.md (CI runs this)
#   --rounds N     rounds of every workload on every target (default 3)
#   --no-write-md  print the table only
#   --no-failover  skip the failover pauses
#   --no-build     use the binaries already in $CARGO_TARGET_DIR/release
#
# Needs root (mounts, a network namespace for MooseFS, drop_caches). Installs fio, jq, fuse3 and
# MooseFS when missing. Brings up RaftMFS (deploy/local-cluster.sh: 3 masters, 3 chunkservers, a
# mount) and MooseFS (bench/moosefs/up.sh: master, metalogger, 3 chunkservers, a mount), both
# at goal 2 and trash time 0, and tears everything down on exit, failure included.
# Folder: $BENCH_HOME (default /var/tmp/raftmfs-sbs); both clusters and the local folder live
# there, so all three share one disk.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
mfs=$repo/bench/moosefs
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/raftmfs-target}
bin=$CARGO_TARGET_DIR/release
home=${BENCH_HOME:-/var/tmp/raftmfs-sbs}
export RAFTMFS_HOME=$home/raftmfs MFS_ROOT=$home/moosefs
localdir=$home/local
results=$home/results.tsv
log=$home/log

smoke=0 rounds=3 write_md=1 failover=1 build=1
while (($#)); do
  case "$1" in
    --smoke) smoke=1 ;;
    --rounds) rounds=$2; shift ;;
    --no-write-md) write_md=0 ;;
    --no-failover) failover=0 ;;
    --no-build) build=0 ;;
    *) sed -n '2,14p' "$0" >&2; exit 2 ;;
  esac
  shift
done
if ((smoke)); then
  rounds=1 write_md=0
  seq_mib=32 rand_secs=1 files=200 dirs=50 small=100 kills=1 kills_mfs=1 steady=1 mfs_budget=0
else
  # MooseFS: up to 3 kills, and none started 60 s after the first, since one kill can cost about
  # two minutes (see the notes below the table): that bounds its share of the run at ~2.5 min.
  seq_mib=1024 rand_secs=4 files=10000 dirs=2000 small=5000 kills=5 kills_mfs=3 steady=3 mfs_budget=60
fi
[ "$(id -u)" -eq 0 ] || { echo "side-by-side: run as root (mounts, network namespace, drop_caches)" >&2; exit 1; }

t0=$(date +%s)
# The commit the binaries come from, taken now: edits made while the run goes on are not in them.
commit=$(cd "$repo" && git rev-parse --short HEAD)
dirty=$(cd "$repo" && git status --porcelain --untracked-files=no | wc -l)
((dirty == 0)) || commit="$commit (+ uncommitted changes in $dirty files of the working tree)"
say() { printf '[side-by-side %4ds] %s\n' "$(($(date +%s) - t0))" "$*" >&2; }

# ---- install, build ----
need=()
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
for p in fio jq fuse3 moosefs-master moosefs-metalogger moosefs-chunkserver moosefs-client moosefs-cli; do
  have_pkg "$p" || need+=("$p")
done
if ((${#need[@]})); then
  say "installing: ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
bash "$repo/scripts/install-deps.sh"
if ((build)); then
  say "building (release)"
  (cd "$repo" && cargo build --release --workspace --bins 2>&1 | tail -n 3) >&2
else
  export RAFTMFS_NO_BUILD=1
fi

# ---- refuse to trample another cluster ----
if ss -ltn 2>/dev/null | grep -q '127\.0\.0\.1[123]:9421 '; then
  echo "side-by-side: a RaftMFS master already listens on 127.0.0.11-13 (deploy/local-cluster.sh down first)" >&2
  exit 1
fi
if ip netns list 2>/dev/null | grep -qw mfsref && [ -n "$(ip netns pids mfsref 2>/dev/null)" ]; then
  echo "side-by-side: MooseFS is already running in netns mfsref (bench/moosefs/down.sh first)" >&2
  exit 1
fi
netns_was_there=0
ip netns list 2>/dev/null | grep -qw mfsref && netns_was_there=1

# ---- teardown, always ----
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  say "tearing down"
  bash "$repo/deploy/local-cluster.sh" down >>"$log" 2>&1 || true
  bash "$mfs/down.sh" >>"$log" 2>&1 || true
  for m in "$RAFTMFS_HOME/mnt" "$MFS_ROOT/mnt"; do
    mountpoint -q "$m" 2>/dev/null && { fusermount3 -u "$m" 2>/dev/null || umount -l "$m" || true; }
  done
  # MooseFS daemons stop asynchronously; wait (bounded) so nothing is left running.
  for _ in $(seq 1 100); do
    [ -z "$(ip netns pids mfsref 2>/dev/null)" ] && break
    sleep 0.1
  done
  if ((!netns_was_there)) && [ -z "$(ip netns pids mfsref 2>/dev/null)" ]; then
    ip netns del mfsref 2>/dev/null || true
  fi
  if ((rc != 0)); then # keep the daemons' logs of a failed run
    rm -rf "$home/failed-logs" && mkdir -p "$home/failed-logs"
    (cd "$home" && find raftmfs moosefs -name '*.log' 2>/dev/null | tar -cf - -T - 2>/dev/null | tar -xf - -C failed-logs) || true
  fi
  rm -rf "$RAFTMFS_HOME" "$MFS_ROOT" "$localdir" "$home/tree" "$home/tree.tar"
  ((rc == 0)) || echo "side-by-side: FAILED (exit $rc); log: $log; daemons' logs: $home/failed-logs" >&2
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$home"
rm -rf "$RAFTMFS_HOME" "$MFS_ROOT" "$localdir"
: >"$results"
: >"$log"
mkdir -p "$RAFTMFS_HOME" "$MFS_ROOT" "$localdir"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
builds_before=$(pgrep -c -x 'cargo|rustc' || true)

# ---- the tree to extract: a real source tree, built once from what is on this machine ----
say "making the source tarball"
tarball=$home/tree.tar
rm -rf "$home/tree" && mkdir -p "$home/tree"
(cd "$repo" && git ls-files -z | tar --null --ignore-failed-read -T - -cf - | tar -xf - -C "$home/tree")
if ((!smoke)); then
  reg=$(ls -d "$HOME"/.cargo/registry/src/*/ 2>/dev/null | head -n 1 || true)
  for crate in librocksdb-sys tokio openraft; do
    src=$(ls -d "$reg$crate"-[0-9]* 2>/dev/null | sort -V | tail -n 1 || true)
    [ -n "$src" ] && cp -a "$src" "$home/tree/"
  done
  if [ "$(find "$home/tree" | wc -l)" -lt 2000 ]; then
    cp -a /usr/share/doc "$home/tree/usr-share-doc" # no cargo registry: still a few thousand files
  fi
fi
tar --sort=name -cf "$tarball" -C "$home/tree" .
rm -rf "$home/tree"
tree_entries=$(tar -tf "$tarball" | wc -l)
tree_mib=$(($(stat -c %s "$tarball") / 1048576))
# What a user copies and clones: a real folder of this machine (this repository's bench/ in a
# smoke run) and this repository, cloned as from a remote (a pack made and sent, then checked out).
if ((smoke)) || [ ! -d /usr/share/doc ]; then copy_src=$repo/bench; else copy_src=/usr/share/doc; fi
copy_entries=$(find "$copy_src" | wc -l)
copy_mib=$(du -sm "$copy_src" | cut -f1)
clone_files=$(git -C "$repo" ls-files | wc -l)

# ---- bring-up ----
say "bringing up RaftMFS"
bash "$repo/deploy/local-cluster.sh" up >>"$log" 2>&1 || { tail -n 30 "$log" >&2; exit 1; }
"$bin/mfssetgoal" -r 2 "$RAFTMFS_HOME/mnt" >/dev/null
"$bin/mfssettrashtime" -r 0 "$RAFTMFS_HOME/mnt" >/dev/null
say "bringing up MooseFS"
bash "$mfs/up.sh" 2 >>"$log" 2>&1 || { tail -n 30 "$log" >&2; exit 1; }
"$mfs/ns.sh" mfssettrashtime -r 0 "$MFS_ROOT/mnt" >/dev/null
mfs_version=$(dpkg-query -W -f='${Version}' moosefs-master)

targets=(raftmfs moosefs local)
declare -A root=([raftmfs]=$RAFTMFS_HOME/mnt [moosefs]=$MFS_ROOT/mnt [local]=$localdir)
for t in "${targets[@]}"; do
  [ "$t" = local ] || mountpoint -q "${root[$t]}" || { echo "side-by-side: ${root[$t]} is not mounted" >&2; exit 1; }
done

# ---- measurement helpers ----
rec() { printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" >>"$results"; }
drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches; }
now() { date +%s.%N; }
per_sec() { awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN { printf "%.3f", n / (b - a) }'; }

# fio_run TARGET DIR KEY LABEL UNIT RW JOBS MIB_PER_JOB EXTRA...: one fio run, its aggregate figure.
fio_run() {
  local t=$1 dir=$2 key=$3 label=$4 unit=$5 rw=$6 jobs=$7 mib=$8 out field v
  shift 8
  out=$home/fio.json
  fio --name="j$jobs" --directory="$dir" --rw="$rw" --numjobs="$jobs" --size="${mib}M" --fallocate=none \
    --group_reporting --output-format=json --output="$out" "$@" >>"$log" 2>&1 ||
    { echo "side-by-side: fio $rw on $t failed" >&2; tail -n 20 "$out" >&2; exit 1; }
  case "$rw" in *write) field=write ;; *) field=read ;; esac
  if [ "$unit" = IOPS ]; then
    v=$(jq ".jobs[0].$field.iops" "$out")
  else
    v=$(jq ".jobs[0].$field.bw / 1024" "$out") # KiB/s; the runtime includes the end fsync
  fi
  rec "$t" "$key" "$label" "$unit" "$v"
}

procs() { if (($1 == 1)); then echo "1 process"; else echo "$1 processes"; fi; }
jobs_label() { if (($1 == 1)); then echo "1 job"; else echo "$1 jobs"; fi; }

# fsops_run TARGET KEY_PREFIX ARGS...: one fsops run, a row per phase it prints.
fsops_run() {
  local t=$1 prefix=$2 out=$home/fsops.out word phase ops secs rate
  shift 2
  "$bin/fsops" "$@" >"$out" 2>>"$log" || { echo "side-by-side: fsops $* on $t failed:" >&2; tail -n 5 "$log" >&2; exit 1; }
  while read -r word phase ops secs rate; do
    [ "$word" = RESULT ] || continue
    case "$prefix.$phase" in
      meta*dir) rec "$t" "$prefix.$phase" "$phase $ops directories, $(procs "${prefix#meta}")" ops/s "$rate" ;;
      meta*.stat) rec "$t" "$prefix.$phase" "$phase $ops empty files, cold cache, $(procs "${prefix#meta}")" ops/s "$rate" ;;
      meta*) rec "$t" "$prefix.$phase" "$phase $ops empty files, $(procs "${prefix#meta}")" ops/s "$rate" ;;
      small.write) rec "$t" small.write "small files: write $ops × 4 KiB (create, write, close), 1 process" files/s "$rate" ;;
      small.read) rec "$t" small.read "small files: read them back, cold cache, 1 process" files/s "$rate" ;;
    esac
  done <"$out"
}

seq_label() { if (($1 == 1)); then echo "1 job"; else echo "$1 jobs × $((seq_mib / $1)) MiB"; fi; }
if ((seq_mib >= 1024)); then size_label="$((seq_mib / 1024)) GiB"; else size_label="$seq_mib MiB"; fi

# One workload on one target, in DIR (a fresh folder of this round).
w_seq_write() {
  local t=$1 d=$2 j
  mkdir -p "$d/fio"
  for j in 1 4; do
    fio_run "$t" "$d/fio" "seqwrite.$j" "fio seq write $size_label, 1 MiB blocks, end fsync, $(seq_label $j)" MiB/s \
      write $j $((seq_mib / j)) --bs=1M --end_fsync=1
  done
}
w_seq_read() {
  local t=$1 d=$2 j
  for j in 1 4; do
    drop_caches
    fio_run "$t" "$d/fio" "seqread.$j" "fio seq read $size_label, 1 MiB blocks, cold cache, $(seq_label $j)" MiB/s \
      read $j $((seq_mib / j)) --bs=1M
  done
}
w_rand() {
  local t=$1 d=$2 j rw
  for rw in randread randwrite; do
    for j in 1 4; do
      drop_caches
      fio_run "$t" "$d/fio" "$rw.$j" "fio 4 KiB $rw, iodepth 1, O_DIRECT, $(jobs_label $j), ${rand_secs} s" IOPS \
        "$rw" $j $((seq_mib / j)) --bs=4k --iodepth=1 --direct=1 --time_based --runtime="$rand_secs"
    done
  done
  rm -rf "$d/fio"
}
w_meta() {
  local t=$1 d=$2 p
  for p in 1 4; do
    fsops_run "$t" "meta$p" meta --dir "$d/meta$p" --files "$files" --dirs "$dirs" --procs "$p" --drop-caches
  done
}
w_small() {
  local t=$1 d=$2
  fsops_run "$t" small small --dir "$d/small" --files "$small" --size 4096 --procs 1 --drop-caches
}
w_tree() {
  local t=$1 d=$2 a b
  mkdir -p "$d/tree"
  a=$(now); tar -xf "$tarball" -C "$d/tree"; b=$(now)
  rec "$t" tree.tar "tar -xf of a source tree ($(printf "%'d" "$tree_entries") entries, $tree_mib MiB)" entries/s "$(per_sec "$tree_entries" "$a" "$b")"
  drop_caches
  a=$(now); du -s "$d/tree" >/dev/null; b=$(now)
  rec "$t" tree.du "du -s of that tree, cold cache" entries/s "$(per_sec "$tree_entries" "$a" "$b")"
  a=$(now); rm -rf "$d/tree"; b=$(now)
  rec "$t" tree.rm "rm -rf of that tree" entries/s "$(per_sec "$tree_entries" "$a" "$b")"
}

w_copy() {
  local t=$1 d=$2 a b
  mkdir -p "$d/copy"
  a=$(now); cp -a "$copy_src" "$d/copy/"; b=$(now)
  rec "$t" copy.cp "cp -a of $copy_src ($(printf "%'d" "$copy_entries") entries, $copy_mib MiB)" entries/s "$(per_sec "$copy_entries" "$a" "$b")"
  a=$(now); git clone -q --no-local "$repo" "$d/copy/clone" 2>>"$log"; b=$(now)
  rec "$t" copy.clone "git clone of a local repository (this one, $(printf "%'d" "$clone_files") files)" files/s "$(per_sec "$clone_files" "$a" "$b")"
  rm -rf "$d/copy"
}

# ---- the rounds: every workload on RaftMFS, MooseFS, local in turn ----
for r in $(seq 1 "$rounds"); do
  for w in seq_write seq_read rand meta small tree copy; do
    for t in "${targets[@]}"; do
      say "round $r/$rounds: $w on $t"
      "w_$w" "$t" "${root[$t]}/sbs/r$r"
    done
  done
done
if [ "$(awk -F'\t' 'NF != 5 || $5 == "" || $5 == "null"' "$results" | wc -l)" -gt 0 ]; then
  echo "side-by-side: a measurement failed (see $log)" >&2
  exit 1
fi

# ---- failover: the pause a writer sees when the master is SIGKILLed ----
pauses_raft="" pauses_mfs=""
# MooseFS's client waits out the chunk write locks of a restarted master (about 125 s) when the
# kill lands inside a write: the limit must be above that, or the run fails instead of measuring.
failover_run() {
  local t=$1 kill=$2 ready=$3 n=$4 budget=$5 out line
  out=$home/failpause.$t
  "$bin/failpause" --dir "${root[$t]}/sbs/failover" --kills "$n" --steady-secs "$steady" --timeout-secs 300 \
    --budget-secs "$budget" --kill-cmd "$kill" --ready-cmd "$ready" >"$out" 2>>"$log" ||
    { cat "$out" >&2; echo "side-by-side: failpause on $t failed" >&2; exit 1; }
  while read -r line; do
    set -- $line
    [ "$1" = RESULT ] || continue
    case "$2" in
      pause) rec "$t" failover.pause "failover: pause a writer sees (create, write 4 KiB, fsync, close) when the master is SIGKILLed, median of the kills" "s (lower is better)" "$4" ;;
      errors) rec "$t" failover.errors "failover: operations that failed instead of pausing, all kills" count "$3" ;;
    esac
  done <"$out"
  grep '^RESULT pause' "$out" | awk '{ printf "%s%s", (NR > 1 ? ", " : ""), $4 }'
}
if ((failover)); then
  say "failover: RaftMFS, $kills kills of the leader"
  pauses_raft=$(failover_run raftmfs "bash $repo/deploy/local-cluster.sh kill-leader" "bash $repo/deploy/local-cluster.sh wait-healthy" "$kills" 0)
  say "failover: MooseFS, up to $kills_mfs kills of mfsmaster (restarted at once), none started after $mfs_budget s"
  pauses_mfs=$(failover_run moosefs "bash $repo/bench/moosefs-ctl.sh kill-master" "bash $repo/bench/moosefs-ctl.sh wait-healthy" "$kills_mfs" "$mfs_budget")
fi
wall=$(($(date +%s) - t0))
say "measured in $wall s"

# ---- the table ----
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
mem=$(awk '/MemTotal/ { printf "%.0f", $2 / 1048576 }' /proc/meminfo)
fs=$(df -T "$home" | awk 'NR == 2 { print $2 " on " $1 }')
cmd="bash bench/side-by-side.sh"
((smoke)) && cmd="$cmd --smoke"
((rounds != 3 && !smoke)) && cmd="$cmd --rounds $rounds"
pre=$home/preamble.md notes=$home/notes.md
cat >"$pre" <<MD
## Side by side: RaftMFS, MooseFS $mfs_version and a local folder (issue 5)

Command: \`$cmd\` ($(date -u +%Y-%m-%d), commit $commit).
Wall time: $wall s from the start to the table (install check, build, bring-up, the rounds, the
failovers; the teardown after it takes a few seconds more).
Machine: $(nproc) cores ($cpu), $mem GiB RAM, kernel $(uname -r), $fs. A shared build host:
load average before the run $load_before; cargo/rustc processes running at the start: $builds_before.

RaftMFS (3 masters, 3 chunkservers, \`mfsmount\`) and MooseFS $mfs_version from Debian's packages (1 master,
1 metalogger, 3 chunkservers, \`mfsmount\`, in a network namespace), both at goal 2 and trash time 0,
and a plain folder, all three on the same disk. Every workload runs on RaftMFS, then MooseFS, then
the local folder, then the next workload; $rounds round(s); each figure is the median of the rounds.
Higher is better, except where the unit says otherwise; every ratio reads one way: above 1 means RaftMFS is
better (for a lower-is-better row it is the other target's figure over RaftMFS's).

MD
cat >"$notes" <<MD
How each figure is measured (\`bench/side-by-side.sh\`, helpers \`bench/src/fsops.rs\`, \`failpause.rs\`):
- fio 3.33, psync engine; sequential runs write then read the same files (1 job: one file of
  $size_label; 4 jobs: four files of $((seq_mib / 4)) MiB), MiB/s from fio's runtime, which includes
  the end fsync. Random runs use those files, O_DIRECT (so the local folder shows its disk, not
  its page cache), ${rand_secs} s each.
- "cold cache": \`sync; echo 3 > /proc/sys/vm/drop_caches\` just before; the FUSE mounts were not
  remounted, so whatever \`mfsmount\` itself keeps stays (and this is a VM: the host's cache of the
  virtual disk cannot be dropped from inside).
- Metadata (\`fsops meta\`): N worker processes, each in its own folder, the work split evenly;
  create = open(O_CREAT|O_EXCL) + close, stat after dropping caches (else the kernel answers from
  its entry/attribute cache, whose timeouts differ: \`mfsmount\` defaults are 1 s / 1 s for
  RaftMFS, 0 s / 1 s for MooseFS), rename within the folder. Small files (\`fsops small\`):
  create + write 4 KiB + close, no fsync (so the local folder's figure is its page cache).
- The tree: \`tar -xf\` (as root: owners, modes and times restored), then \`du -s\` after dropping
  caches, then \`rm -rf\`; entries/s = entries in the tarball / seconds.
- Copy and clone: \`cp -a\` of a folder of this machine into the target (entries/s = entries
  \`find\` counts in it / seconds), then \`git clone --no-local\` of this repository into it (a
  pack made, sent and checked out, as from a remote; files/s = files checked out / seconds).
- Failover: \`bench/src/failpause.rs\`, one writer; RaftMFS $kills kills, MooseFS up to $kills_mfs; before each, all masters
  healthy and $steady s of steady progress; the pause is the longest gap between two completed
  operations around the kill. RaftMFS: \`deploy/local-cluster.sh kill-leader\` (SIGKILL of the
  Raft leader, which is started again at once); MooseFS: \`bench/moosefs-ctl.sh kill-master\`
  (SIGKILL of mfsmaster, then \`mfsmaster -a start\` at once: without \`-a\` it refuses to start
  after a crash). Pauses, s: RaftMFS ${pauses_raft:-not run}; MooseFS ${pauses_mfs:-not run}.
  MooseFS pauses either about 3 s or about 125 s: by hand, 3 of 4 kills cost 125.7-126.3 s, which
  looks like its client waiting out a chunk that was open for writing at the kill (a timeout of
  about two minutes); a kill between two writes costs about 3 s. So MooseFS gets at most $kills_mfs kills
  and none is started once $mfs_budget s have passed since its first, to keep the run under 20 minutes;
  its median is over the kills listed here.
MD
md_args=()
((write_md)) && md_args=(--write-md "$repo/BENCHMARKS.md")
"$bin/sbstable" --results "$results" --preamble "$pre" --notes "$notes" "${md_args[@]}"
((write_md)) && say "table written into BENCHMARKS.md"
say "done in $(($(date +%s) - t0)) s (results: $results, log: $log)"
