#!/usr/bin/env bash
# The MooseFS tools side by side with MooseFS 3.0 (issue 13): the same calls of mfscopygoal,
# mfscopytrashtime, mfsgetgoal -r, mfsfilepaths (by path and by inode), mfsfilerepair, mfsfileinfo -q and mfsdirinfo's
# show options and -p on a
# MooseFS mount (bench/moosefs/up.sh) and on a RaftMFS one (deploy/local-cluster.sh), then a diff of
# what a user sees: exit codes and the values printed (goals, trash times, the set of paths, chunk
# counts, and the lines of mfssetgoal/mfssettrashtime/mfscopygoal as printed). Left out: MooseFS counts a
# hard-linked file once per name in mfssetgoal -r. (Trash times are in whole hours on both: MooseFS 3.0 rounds seconds up, and so
# do the RaftMFS tools.) Exit 0 when both agree. Needs root; stops what it starts.
source "$(dirname "$0")/common.sh"

# The steps in mount $1, running each tool as "$2 TOOL ARGS..." ($2 empty: the tool itself).
steps() {
  local mnt=$1 via=$2
  t() { local tool=$1; shift; $via "$tool" "$@"; }
  val() { sed -n 's/.*: \([0-9][0-9]*\)$/\1/p' | tail -n 1; } # the last "...: N" value
  cd "$mnt"
  mkdir -p a/b
  echo x >a/b/f
  echo y >g
  ln a/b/f a/hl
  echo "setgoal says: $(t mfssetgoal 3 a/b/f | sed 's|.*/||')"
  echo "settrashtime says: $(t mfssettrashtime 7200 g | sed 's|.*/||')"
  echo "copygoal: rc $(t mfscopygoal a/b/f g >"$work/o" 2>&1; echo $?), says $(tr '\n' ' ' <"$work/o"), g now $(t mfsgetgoal g | val)"
  echo "copygoal one operand: rc $(t mfscopygoal a/b/f >/dev/null 2>&1; echo $?)"
  echo "copytrashtime: rc $(t mfscopytrashtime a/b/f g >/dev/null 2>&1; echo $?), g now $(t mfsgettrashtime g | val)"
  t mfssettrashtime 600 a/b/f >/dev/null
  echo "copytrashtime -r: rc $(t mfscopytrashtime -r a/b/f a >/dev/null 2>&1; echo $?), a/b now $(t mfsgettrashtime a/b | val)"
  echo "filepaths: rc $(t mfsfilepaths a/b/f >"$work/o" 2>&1; echo $?), paths $(tail -n +2 "$work/o" | sort | tr '\n' ' ')"
  echo "filepaths of a folder: $(t mfsfilepaths a/b | tail -n +2 | tr '\n' ' ')"
  local ino
  ino=$(stat -c %i a/b/f)
  echo "filepaths by inode: rc $(cd a && t mfsfilepaths "$ino" >"$work/o" 2>&1; echo $?), paths $(tail -n +2 "$work/o" | sort | tr '\n' ' ')"
  echo "filepaths of nothing: rc $(t mfsfilepaths nonexistent >/dev/null 2>&1; echo $?)"
  echo "filerepair of a healthy file: rc $(t mfsfilerepair g >"$work/o" 2>&1; echo $?), $(tail -n +2 "$work/o" | tr -s ' ' | tr '\n' ' ')"
  echo "filerepair of a folder: rc $(t mfsfilerepair a >/dev/null 2>&1; echo $?)"
  mkdir q
  t mfssetgoal 1 q >/dev/null
  echo data >q/h
  echo "fileinfo -q: rc $(t mfsfileinfo -q q/h >"$work/o" 2>&1; echo $?), $(tail -n +2 "$work/o" | tr -s ' ' | tr '\n' ' ')"
  mkdir -p di/s
  echo hello >di/a
  ln di/a di/s/b
  echo "dirinfo -i -c: $(t mfsdirinfo -i -c di | tr '\t' ' ')"
  echo "dirinfo -d -f -l -s -r: $(t mfsdirinfo -d -f -l -s -r di | tr '\t' ' ')"
  echo "dirinfo -p -i -f -c -l: $(t mfsdirinfo -p -i -f -c -l di | tr -d '\r' | tr '\t\n' '  ')"
  echo "dirinfo -p block: $(t mfsdirinfo -p di | tr -d '\r' | grep -E 'precise|inodes|directories|files|chunks|length|size' | tr -s ' ' | tr '\n' ' ')"
  cd /
}

steps "$MFS_ROOT/mnt" "bash $repo/bench/moosefs/ns.sh" >"$work/moosefs.txt"
steps "$RAFTMFS_HOME/mnt" "env PATH=$bin:$PATH" >"$work/raftmfs.txt"
compare tools "$work/moosefs.txt" "$work/raftmfs.txt"
