#!/usr/bin/env bash
# Extra attributes (mfsgeteattr, mfsseteattr, mfsdeleattr, mfscopyeattr) and mfsrmsnapshot side by
# side with MooseFS 3.0 (issue 13): the same steps on a MooseFS mount (bench/moosefs/up.sh) and on a
# RaftMFS one (deploy/local-cluster.sh), then a diff of what a user sees: the tools' lines and exit
# codes, which operations each flag refuses (root and another user), what a write to an appendonly
# file leaves, what new objects and snapshots inherit. Exit 0 when both agree. Needs root.
source "$(dirname "$0")/common.sh"
raft_compare_mount

# The steps in mount $1, running each tool as "$2 TOOL ARGS...", and as another user with
# "$3 su nobody -c '$4/TOOL ARGS...'".
steps() {
  local mnt=$1 via=$2 via_root=$3 tools=$4
  as_nobody() { su nobody -s /bin/sh -c "$1" >"$work/o" 2>&1; echo $?; }
  tool_as_nobody() { $via_root su nobody -s /bin/sh -c "cd $mnt/e && $tools/$1" >"$work/o" 2>&1; echo $?; }
  cd "$mnt"
  mkdir e && chmod 777 e && cd e
  echo data >f
  mkdir d
  echo x >d/g
  echo "get: $(out t mfsgeteattr f d)"
  echo "set two: $(out t mfsseteattr -f undeletable -f nodatacache f), now $(out t mfsgeteattr f)"
  echo "again: $(out t mfsseteattr -f undeletable f)"
  echo "undeletable: rm rc $(rc rm -f f) $(says 'not permitted'), mv rc $(rc mv f f2), back rc $(rc mv f2 f), chmod rc $(rc chmod 600 f)"
  echo "delete: $(out t mfsdeleattr -f undeletable -f nodatacache f), now $(out t mfsgeteattr f)"
  quiet t mfsseteattr -f immutable f
  echo "immutable: append rc $(rc sh -c 'echo more >>f'), truncate rc $(rc truncate -s 0 f), chmod rc $(rc chmod 600 f)," \
    "touch rc $(rc touch f), xattr rc $(rc setfattr -n user.a -v 1 f), link rc $(rc ln f hard), mv rc $(rc mv f f2)," \
    "rm rc $(rc rm -f f), read '$(cat f)', setgoal rc $(rc t mfssetgoal 2 f)"
  echo "immutable with noowner: $(out t mfsseteattr -f noowner f), off: $(out t mfsdeleattr -f immutable f)"
  quiet t mfsdeleattr -f noowner f
  echo abc >log
  quiet t mfsseteattr -f appendonly log
  echo def >>log
  printf XYZ | dd of=log bs=1 seek=0 conv=notrunc status=none 2>/dev/null || echo "dd failed"
  echo "appendonly file: '$(tr '\n' '|' <log)', truncate rc $(rc truncate -s 0 log), rm rc $(rc rm -f log)"
  quiet t mfsseteattr -f appendonly d
  echo "appendonly folder: create rc $(rc touch d/new), rm rc $(rc rm -f d/new), mv out rc $(rc mv d/g gg), rmdir rc $(rc rmdir d)"
  quiet t mfsdeleattr -f appendonly d
  quiet t mfsseteattr -f immutable d
  echo "immutable folder: create rc $(rc touch d/new2), mkdir rc $(rc mkdir d/sub), rm rc $(rc rm -f d/g), write inside rc $(rc sh -c 'echo y >>d/g')"
  quiet t mfsdeleattr -f immutable d
  echo secret >p
  chmod 600 p
  echo "noowner: before rc $(as_nobody 'cat p')"
  quiet t mfsseteattr -f noowner p
  echo "  after rc $(as_nobody 'cat p; stat -c "%U %G %a" p'): $(tr '\n' '|' <"$work/o"), root sees $(stat -c '%U %a' p)"
  echo "  nobody chmods rc $(as_nobody 'chmod 640 p'), mode $(stat -c %a p)"
  echo "  nobody sets an attribute: rc $(tool_as_nobody "mfsseteattr -f noattrcache p"): $(cat "$work/o")"
  echo "  nobody on root's file: rc $(tool_as_nobody "mfsseteattr -f noattrcache f"): $(cat "$work/o")"
  echo "  nobody sets undeletable on a noowner file: rc $(tool_as_nobody "mfsseteattr -f undeletable p"): $(cat "$work/o")"
  mkdir n
  quiet t mfsseteattr -f noowner -f noattrcache -f noentrycache -f nodatacache -f undeletable -f snapshot n
  touch n/file
  mkdir n/sub
  ln -s file n/link
  echo "inherited: $(out t mfsgeteattr n/file n/sub n/link)"
  echo "recursive get: $(out t mfsgeteattr -r n)"
  echo "recursive set: $(out t mfsseteattr -r -f immutable n)"
  echo "recursive del: $(out t mfsdeleattr -r -f immutable -f undeletable n)"
  echo "copy: $(out t mfscopyeattr n/sub f)"
  echo "unknown: rc $(rc t mfsseteattr -f bogus f), $(says 'unknown flag')"
  echo "no flag: rc $(rc t mfsseteattr f), $(says 'no attribute(s) to set')"
  echo "no such file: rc $(rc t mfsgeteattr missing), $(says 'No such file or directory')"
  quiet t mfsdeleattr -r -f noowner -f noattrcache -f noentrycache -f nodatacache f n
  mkdir -p s/a
  echo 1 >s/a/x
  echo 2 >s/y
  quiet t mfsseteattr -f nodatacache s/y
  quiet t mfsmakesnapshot s snap
  echo "snapshot: $(out t mfsgeteattr s snap snap/a snap/a/x snap/y)"
  echo "rmsnapshot of no snapshot: rc $(rc t mfsrmsnapshot s) $(says 'not permitted'), s still $(ls s | tr '\n' ' ')"
  echo more >>snap/y
  echo "written copy: $(out t mfsgeteattr snap/y), rmsnapshot rc $(rc t mfsrmsnapshot snap) $(says 'not permitted')"
  echo "  left: $(find snap | sort | tr '\n' ' ')"
  echo "  -f rc $(rc t mfsrmsnapshot -f snap), left $(find snap | sort | tr '\n' ' '), folder $(out t mfsgeteattr snap)"
  quiet t mfsmakesnapshot s snap2
  echo "whole snapshot: rc $(rc t mfsrmsnapshot snap2), gone $(ls | grep -qx snap2 && echo no || echo yes)"
  quiet t mfsseteattr -f immutable s/y
  quiet t mfsmakesnapshot s/y ycopy
  echo "snapshot of an immutable file: $(out t mfsgeteattr ycopy), rm rc $(rc rm -f ycopy)"
  quiet t mfsdeleattr -f immutable s/y ycopy
  cd /
}

steps "$MFS_ROOT/mnt" "bash $repo/bench/moosefs/ns.sh" "bash $repo/bench/moosefs/ns.sh" /usr/bin >"$work/moosefs.txt"
steps "$raft_mnt" "env PATH=$bin:$PATH" "" "$bin" >"$work/raftmfs.txt"
compare "extra attributes" "$work/moosefs.txt" "$work/raftmfs.txt"
