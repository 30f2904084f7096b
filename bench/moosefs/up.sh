#!/usr/bin/env bash
# MooseFS 3.0 from Debian's packages, as the comparison peer of bench/side-by-side.sh: one master,
# one metalogger, three chunkservers and a mount, on this machine only. MooseFS's master will not
# register chunkservers from 127.x, so its daemons live in a network namespace ("mfsref") whose
# loopback also carries 10.42.0.1; they are started with nsenter --net, which keeps the mount
# visible to every process. No packet leaves the machine.
#
#   bench/moosefs/up.sh [GOAL]      (default 2; runs down.sh first, so it can be repeated)
#
# Data under $MFS_ROOT (default /tmp/moosefs-ref). Stop with down.sh; run MooseFS's tools with ns.sh.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=${MFS_ROOT:-/tmp/moosefs-ref}
goal=${1:-2}
ns=mfsref
addr=10.42.0.1
bash "$here/down.sh" >/dev/null 2>&1 || true

need=()
command -v mfsmaster >/dev/null || need+=(moosefs-master)
command -v mfsmetalogger >/dev/null || need+=(moosefs-metalogger)
command -v mfschunkserver >/dev/null || need+=(moosefs-chunkserver)
command -v mfsmount >/dev/null || need+=(moosefs-client)
command -v mfscli >/dev/null || need+=(moosefs-cli)
command -v fusermount3 >/dev/null || need+=(fuse3)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
id mfs >/dev/null 2>&1 || useradd --system --shell /usr/sbin/nologin mfs

if ! ip netns list | grep -qw "$ns"; then
  ip netns add "$ns"
  ip -n "$ns" link set lo up
  ip -n "$ns" addr add "$addr/32" dev lo
fi
inside() { nsenter --net=/run/netns/"$ns" "$@"; }

rm -rf "$root"
mkdir -p "$root/master" "$root/metalogger" "$root/mnt"
printf '%s\n' '*  /  rw,alldirs,admin,maproot=0' '*  .  rw' >"$root/master/mfsexports.cfg"
cat >"$root/master/mfsmaster.cfg" <<CFG
WORKING_USER = mfs
WORKING_GROUP = mfs
DATA_PATH = $root/master
EXPORTS_FILENAME = $root/master/mfsexports.cfg
MATOML_LISTEN_HOST = $addr
MATOCS_LISTEN_HOST = $addr
MATOCL_LISTEN_HOST = $addr
REPLICATIONS_DELAY_INIT = 0
NICE_LEVEL = 0
CFG
# A new master starts from the empty metadata file the package ships.
cp /var/lib/mfs/metadata.mfs.empty "$root/master/metadata.mfs"
cat >"$root/metalogger/mfsmetalogger.cfg" <<CFG
WORKING_USER = mfs
WORKING_GROUP = mfs
DATA_PATH = $root/metalogger
MASTER_HOST = $addr
CFG
for i in 1 2 3; do
  cs=$root/cs$i
  mkdir -p "$cs/data" "$cs/hdd"
  echo "$cs/hdd" >"$cs/mfshdd.cfg"
  cat >"$cs/mfschunkserver.cfg" <<CFG
WORKING_USER = mfs
WORKING_GROUP = mfs
DATA_PATH = $cs/data
HDD_CONF_FILENAME = $cs/mfshdd.cfg
MASTER_HOST = $addr
BIND_HOST = $addr
CSSERV_LISTEN_HOST = $addr
CSSERV_LISTEN_PORT = $((9412 + i * 10))
HDD_LEAVE_SPACE_DEFAULT = 64MiB
NICE_LEVEL = 0
CFG
done
chown -R mfs:mfs "$root"

inside mfsmaster -c "$root/master/mfsmaster.cfg" start
inside mfsmetalogger -c "$root/metalogger/mfsmetalogger.cfg" start
for i in 1 2 3; do inside mfschunkserver -c "$root/cs$i/mfschunkserver.cfg" start; done
# Wait (up to a minute) until all three chunkservers have registered.
for _ in $(seq 1 60); do
  [ "$(inside mfscli -H "$addr" -SCS 2>/dev/null | grep -c "$addr")" -ge 3 ] && break
  sleep 1
done
inside mfsmount "$root/mnt" -H "$addr" -o mfscfgfile=/dev/null
inside mfssetgoal -r "$goal" "$root/mnt" >/dev/null
echo "MooseFS up: mount $root/mnt, goal $goal, master $addr (netns $ns; its tools through bench/moosefs/ns.sh)"
