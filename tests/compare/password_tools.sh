#!/usr/bin/env bash
# The tools on mounts of password-protected exports, side by side with MooseFS 3.0 (issue 13): both
# clusters' exports are rewritten so the whole tree needs a password and /ro is read-only with a
# password of its own, and reloaded; then the same steps on each: a mount without the password is
# refused, one with it works, and the tools run in it (mfsgetgoal, mfssetgoal, mfsdirinfo,
# mfsmakesnapshot) without being given any password, as MooseFS's join the mount's session; on the
# read-only export the tools read and cannot change. Exit 0 when both agree. Needs root; stops what
# it starts.
raft_exports=1
source "$(dirname "$0")/common.sh"

rules='*  /  rw,alldirs,admin,maproot=0,password=pw
*  /ro  ro,maproot=0,password=ro
*  .  rw'

# The steps, with $via running a tool or a command in the cluster's network and $hosts its masters.
# $1: the cluster's own (password-less) mount, to make the files first; $2: a folder for new mounts.
steps() {
  local main=$1 mnts=$2
  val() { sed -n 's/.*: \([0-9][0-9]*\)$/\1/p' | tail -n 1; } # the last "...: N" value
  mkdir -p "$main/ro"
  echo 'read-only for /ro' >"$main/ro/file"
  echo data >"$main/f"
  $reload_exports
  mkdir -p "$mnts/no" "$mnts/pw" "$mnts/ro"
  # The masters apply the new rules at once on reload; MooseFS's by its next loop: wait for the refusal.
  local refused=1
  for _ in $(seq 1 50); do
    if $via mfsmount "$mnts/no" -H "$hosts" $mount_opts >/dev/null 2>&1; then
      umount "$mnts/no"
      sleep 0.2
    else
      refused=0
      break
    fi
  done
  echo "mount without the password: refused $([ $refused = 0 ] && echo yes || echo no)"
  echo "mount with it: rc $(rc $via mfsmount "$mnts/pw" -H "$hosts" $mount_opts -o mfspassword=pw)"
  extra_mounts+=("$mnts/pw" "$mnts/ro")
  cd "$mnts/pw"
  echo "getgoal: rc $(rc t mfsgetgoal f), goal $(val <"$work/o")"
  echo "setgoal 2: rc $(rc t mfssetgoal 2 f), goal now $(t mfsgetgoal f | val)"
  echo "settrashtime: rc $(rc t mfssettrashtime 7200 f), now $(t mfsgettrashtime f | val)"
  echo "dirinfo: rc $(rc t mfsdirinfo -i -f .), $(tr '\t' ' ' <"$work/o" | tr -s ' ' | tr '\n' ' ')"
  echo "makesnapshot: rc $(rc t mfsmakesnapshot f f.snap), same $(cmp -s f f.snap && echo yes || echo no)"
  echo "fileinfo: rc $(rc t mfsfileinfo f)"
  cd /
  echo "read-only mount: rc $(rc $via mfsmount "$mnts/ro" -H "$hosts" $mount_opts -S /ro -o mfspassword=ro)"
  cd "$mnts/ro"
  echo "getgoal on ro: rc $(rc t mfsgetgoal file), goal $(val <"$work/o")"
  echo "setgoal on ro: goal after $(t mfssetgoal 3 file >/dev/null 2>&1; t mfsgetgoal file | val)"
  echo "checkfile on ro: rc $(rc t mfscheckfile file)"
  cd /
  for m in pw ro; do umount "$mnts/$m" 2>/dev/null || umount -l "$mnts/$m"; done
}

mfs_reload() {
  printf '%s\n' "$rules" >"$MFS_ROOT/master/mfsexports.cfg"
  bash "$repo/bench/moosefs/ns.sh" mfsmaster -c "$MFS_ROOT/master/mfsmaster.cfg" reload >/dev/null 2>&1
}
raft_reload() {
  printf '%s\n' "$rules" >"$raft_exports_file"
  for i in 1 2 3; do "$bin/mfsmaster" -c "$RAFTMFS_HOME/master$i/mfsmaster.cfg" reload >/dev/null; done
}

via="bash $repo/bench/moosefs/ns.sh" hosts=10.42.0.1 mount_opts="-o mfscfgfile=/dev/null" \
  reload_exports=mfs_reload steps "$MFS_ROOT/mnt" "$work/mfs" >"$work/moosefs.txt"
via="env PATH=$bin:$PATH" hosts=127.0.0.11,127.0.0.12,127.0.0.13 mount_opts="" \
  reload_exports=raft_reload steps "$RAFTMFS_HOME/mnt" "$work/raft" >"$work/raftmfs.txt"
compare "tools on password exports" "$work/moosefs.txt" "$work/raftmfs.txt"
