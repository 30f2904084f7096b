#!/usr/bin/env bash
# Stop what bench/moosefs/up.sh started and unmount its mount. The data under $MFS_ROOT stays.
set -u
root=${MFS_ROOT:-/tmp/moosefs-ref}
inside() { nsenter --net=/run/netns/mfsref "$@"; }
if mountpoint -q "$root/mnt" 2>/dev/null; then
  fusermount3 -u "$root/mnt" 2>/dev/null || umount -l "$root/mnt"
fi
for i in 1 2 3; do
  cfg=$root/cs$i/mfschunkserver.cfg
  [ -f "$cfg" ] && inside mfschunkserver -c "$cfg" stop
done
[ -f "$root/metalogger/mfsmetalogger.cfg" ] && inside mfsmetalogger -c "$root/metalogger/mfsmetalogger.cfg" stop
[ -f "$root/master/mfsmaster.cfg" ] && inside mfsmaster -c "$root/master/mfsmaster.cfg" stop
exit 0
