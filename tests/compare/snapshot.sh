#!/usr/bin/env bash
# mfsmakesnapshot and mfsappendchunks side by side with MooseFS 3.0 (issue 13): the same steps on
# a MooseFS mount (bench/moosefs/up.sh) and on a RaftMFS one (deploy/local-cluster.sh), then a diff
# of what a user sees: exit codes, which error a failure names, the trees and contents the copies
# have, and that a write to either side of a snapshot leaves the other as it was (digests).
# The RaftMFS side runs in a mount with MooseFS's default entry cache (`mfsentrycacheto=0`: every
# path is looked up again, so a name the tools replaced is seen at once); RaftMFS mounts cache
# entries for 1 s by default. Exit 0 when both agree. Needs root; stops what it starts.
source "$(dirname "$0")/common.sh"
raft_mnt=$work/raft-mnt
mkdir -p "$raft_mnt"
extra_mounts=("$raft_mnt")
"$bin/mfsmount" "$raft_mnt" -H 127.0.0.11,127.0.0.12,127.0.0.13 -o mfsentrycacheto=0 >/dev/null

# The steps in mount $1, running each tool as "$2 TOOL ARGS..." ($2 empty: the tool itself).
steps() {
  local mnt=$1 via=$2
  t() { local tool=$1; shift; $via "$tool" "$@"; }
  rc() { "$@" >"$work/o" 2>&1; echo $?; }
  says() { grep -q "$1" "$work/o" && echo "says '$1'" || echo "does not say '$1': $(cat "$work/o")"; }
  sum() { md5sum <"$1" | cut -c1-12; }
  cd "$mnt"
  { yes 'snapshot test line' || true; } | head -c 3000000 >big
  mkdir -p d/sub into
  echo alpha >d/sub/a
  echo beta >d/b
  ln -s sub/a d/l
  chmod 750 d/sub
  echo "file: rc $(rc t mfsmakesnapshot big snap), output '$(cat "$work/o")', same $(cmp -s big snap && echo yes || echo no)"
  printf 'XYZ' | dd of=snap bs=1 seek=100 conv=notrunc status=none
  echo "write to the copy: big $(sum big), snap $(sum snap)"
  printf 'QRS' | dd of=big bs=1 seek=2000000 conv=notrunc status=none
  echo "write to the original: big $(sum big), snap $(sum snap)"
  truncate -s 1000 snap
  echo "truncate the copy: big $(sum big) $(stat -c %s big), snap $(sum snap) $(stat -c %s snap)"
  echo "tree and a file into a folder: rc $(rc t mfsmakesnapshot d d/b into)"
  echo "  tree: $(cd into && find . | sort | tr '\n' ' ')"
  echo "  modes: $(stat -c '%n %a' into/d/sub into/d/b | tr '\n' ' ') link $(readlink into/d/l) a $(cat into/d/sub/a)"
  echo "again without -o: rc $(rc t mfsmakesnapshot d into), $(says 'File exists')"
  echo beta2 >d/b
  echo "again with -o: rc $(rc t mfsmakesnapshot -o d into), b now $(cat into/d/b)"
  echo "into itself: rc $(rc t mfsmakesnapshot d d/sub), $(says 'Invalid argument')"
  echo "onto itself: rc $(rc t mfsmakesnapshot d .)"
  echo "two into a missing folder: rc $(rc t mfsmakesnapshot big d/b missing), $(says 'only into existing directory')"
  echo "a folder over a file: rc $(rc t mfsmakesnapshot -o d/sub into/b)"
  echo "across devices: rc $(rc t mfsmakesnapshot big "$work/elsewhere"), $(says 'same device')"
  echo "missing source: rc $(rc t mfsmakesnapshot nothing here)"
  echo one >part1
  echo two >part2
  echo "appendchunks: rc $(rc t mfsappendchunks joined part1 part2), size $(stat -c %s joined), $(sum joined)"
  echo "appendchunks of a folder: rc $(rc t mfsappendchunks joined d), $(says 'not a file')"
  { yes 'two chunks' || true; } | head -c $((64 * 1024 * 1024 + 10)) >two
  echo "appendchunks -s 1: rc $(rc t mfsappendchunks -s 1: tail1 two), size $(stat -c %s tail1), $(sum tail1)"
  echo "appendchunks -s :1: rc $(rc t mfsappendchunks -s :1 head1 two), size $(stat -c %s head1), $(sum head1)"
  echo "appendchunks -s -1:: rc $(rc t mfsappendchunks -s -1: last1 two), size $(stat -c %s last1)"
  echo "appendchunks -s 5:9: rc $(rc t mfsappendchunks -s 5:9 none two), size $(stat -c %s none)"
  cd /
}

steps "$MFS_ROOT/mnt" "bash $repo/bench/moosefs/ns.sh" >"$work/moosefs.txt"
steps "$raft_mnt" "env PATH=$bin:$PATH" >"$work/raftmfs.txt"
compare snapshots "$work/moosefs.txt" "$work/raftmfs.txt"
