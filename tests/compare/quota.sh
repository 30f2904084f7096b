#!/usr/bin/env bash
# Folder quotas (mfsgetquota, mfssetquota, mfsdelquota, mfscopyquota) side by side with MooseFS 3.0
# (issue 13): the same steps on a MooseFS mount (bench/moosefs/up.sh) and on a RaftMFS one
# (deploy/local-cluster.sh), then a diff of what a user sees: the tools' tables (usage counted the
# same way: objects, length, chunk sizes, size times goal), which operations a limit refuses, the
# tools' errors and exit codes. Soft limits get an explicit grace period (MooseFS 3.0.117 applies
# none by default, where RaftMFS applies the documented seven days). Exit 0 when both agree.
source "$(dirname "$0")/common.sh"
raft_compare_mount

# The steps in mount $1, running each tool as "$2 TOOL ARGS...", and as another user with
# "$3 su nobody -c '$4/TOOL ARGS...'".
steps() {
  local mnt=$1 via=$2 via_root=$3 tools=$4
  cd "$mnt"
  mkdir q
  quiet t mfssetgoal 2 q
  printf 'hello' >q/a
  mkdir q/sub
  ln -s a q/link
  echo "no quota: $(out t mfsgetquota q)"
  echo "set: $(out t mfssetquota -i 3 -I 6 -l 1k -L 1Mi -s 1M -S 3Mi -r 10Mi -R 20Mi -p 1h q)"
  touch q/b q/c
  echo "up to the limit: rc $(rc touch q/d)"
  echo "past it: rc $(rc touch q/e) $(says 'Disk quota exceeded'), mkdir rc $(rc mkdir q/sub/x), symlink rc $(rc ln -s a q/l2)"
  echo "outside: rc $(rc touch outside)"
  echo "length past the limit: rc $(rc truncate -s 2M q/a) $(says 'Disk quota exceeded'), to 1000 rc $(rc truncate -s 1000 q/a)"
  echo "now: $(out t mfsgetquota q)"
  echo "delete hard inodes: $(out t mfsdelquota -I q)"
  echo "then: rc $(rc touch q/e)"
  echo "copy to nothing: rc $(rc t mfscopyquota q outside_dir_missing) $(says 'No such file or directory')"
  mkdir q2
  echo "copy to a folder: $(out t mfscopyquota q q2)"
  echo "delete all: $(out t mfsdelquota -a -A q2)"
  echo "a file: rc $(rc t mfsgetquota q/a) $(says 'Operation not permitted')"
  echo "set on a file: rc $(rc t mfssetquota -I 5 q/a) $(says 'Operation not permitted')"
  echo "no options: rc $(rc t mfssetquota q) $(says 'quota options not defined')"
  echo "bad number: rc $(rc t mfssetquota -i x q) $(says 'bad inodes limit')"
  echo "twice: rc $(rc t mfssetquota -i 1 -i 2 q) $(says 'defined twice')"
  echo "not root: rc $($via_root su nobody -s /bin/sh -c "cd $mnt && $tools/mfssetquota -I 5 q" >"$work/o" 2>&1; echo $?) $(says 'only root can change quota')"
  echo "not root reads: rc $($via_root su nobody -s /bin/sh -c "cd $mnt && $tools/mfsgetquota q2" >"$work/o" 2>&1; echo $?)"
  echo "missing: rc $(rc t mfsgetquota nothing) $(says 'No such file or directory')"
  cd /
}

steps "$MFS_ROOT/mnt" "bash $repo/bench/moosefs/ns.sh" "bash $repo/bench/moosefs/ns.sh" /usr/bin >"$work/moosefs.txt"
steps "$raft_mnt" "env PATH=$bin:$PATH" "" "$bin" >"$work/raftmfs.txt"
compare quotas "$work/moosefs.txt" "$work/raftmfs.txt"
