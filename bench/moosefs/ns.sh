#!/usr/bin/env bash
# A command inside the network namespace of the MooseFS from bench/moosefs/up.sh, e.g.
#   bench/moosefs/ns.sh mfscli -H 10.42.0.1 -SIN
#   bench/moosefs/ns.sh mfsfileinfo /tmp/moosefs-ref/mnt/file
exec nsenter --net=/run/netns/mfsref "$@"
