#!/usr/bin/env bash
# The meta tree side by side with MooseFS 3.0 (issue 13): the same steps on a MooseFS meta mount
# (bench/moosefs/up.sh, in its network namespace) and on a RaftMFS one (deploy/local-cluster.sh),
# then a diff of what a user sees: exit codes, file contents, modes, link counts, which names are
# listed. Error texts and timestamps are left out (they are not the same words). Exit 0 when both
# agree. Needs root. Everything it starts is stopped at the end.
#
#   tests/compare/meta_mount.sh            (RAFTMFS_NO_BUILD=1: use the built binaries)
source "$(dirname "$0")/common.sh"
mfs_meta=$work/mfs-meta
raft_meta=$work/raft-meta
mkdir -p "$mfs_meta" "$raft_meta"
extra_mounts=("$mfs_meta" "$raft_meta")
nsenter --net=/run/netns/mfsref mfsmount -m "$mfs_meta" -H 10.42.0.1 -o mfscfgfile=/dev/null >/dev/null 2>&1
"$bin/mfsmount" -m "$raft_meta" -H 127.0.0.11,127.0.0.12,127.0.0.13 >/dev/null

# The steps, on file tree $1 and meta tree $2; one line per observation.
steps() {
  local mnt=$1 meta=$2
  say() { printf '%s\n' "$*"; }
  run() { local label=$1; shift; if "$@" >/dev/null 2>&1; then say "$label: ok"; else say "$label: failed"; fi; }
  ino() { stat -c %i "$1"; }
  sub() { printf '%03X' $(($1 % 4096)); }
  name() { printf '%08X|%s' "$1" "${2//\//|}"; }

  say "root: $(ls "$meta" | grep -v '^\.' | tr '\n' ' ')"
  say "trash folders: $(ls "$meta/trash" | wc -l), has 000 FFF undel: $(ls -d "$meta/trash/000" "$meta/trash/FFF" "$meta/trash/undel" 2>/dev/null | wc -l)"
  say "modes: trash $(stat -c %a "$meta/trash") undel $(stat -c %a "$meta/trash/000/undel")"
  mkdir -p "$mnt/d1/d2"
  echo hello >"$mnt/d1/d2/f.txt"
  echo top >"$mnt/top.txt"
  local f t
  f=$(ino "$mnt/d1/d2/f.txt")
  t=$(ino "$mnt/top.txt")
  rm "$mnt/d1/d2/f.txt" "$mnt/top.txt"
  local fe="$meta/trash/$(sub "$f")/$(name "$f" d1/d2/f.txt)"
  local te="$meta/trash/$(sub "$t")/$(name "$t" top.txt)"
  sleep 1.2 # listings are cached for a second on both
  say "listed: $(ls "$meta/trash/$(sub "$f")" | grep -c "^$(name "$f" d1/d2/f.txt)\$")"
  say "read: $(cat "$fe")"
  say "stat: size $(stat -c %s "$fe") links $(stat -c %h "$fe") mode $(stat -c %a "$fe") type $(stat -c %F "$fe")"
  run "restore into undel" mv "$fe" "$(dirname "$fe")/undel/"
  say "restored: $(cat "$mnt/d1/d2/f.txt" 2>&1)"
  rm "$mnt/d1/d2/f.txt"
  echo newer >"$mnt/d1/d2/f.txt"
  sleep 1.2
  run "restore onto a taken name" mv "$fe" "$(dirname "$fe")/undel/"
  say "taken name kept: $(cat "$mnt/d1/d2/f.txt")"
  run "write a new path" sh -c "echo new/dir/g.txt > '$fe'"
  say "read after write: $(cat "$fe")"
  local flat
  flat="$(name "$f" new/dir/g.txt)"
  run "restore from trash/ into trash/undel" sh -c "cd '$meta/trash' && mv '$flat' undel/"
  say "restored to the new path: $(cat "$mnt/new/dir/g.txt" 2>&1)"
  say "made folder: $(stat -c '%a %u' "$mnt/new/dir")"
  run "purge" rm "$te"
  sleep 1.2
  # (Not compared: a stat of the purged name. MooseFS answers a lookup of any well-formed name
  # in the trash, even one purged; RaftMFS answers ENOENT.)
  say "listed after purge: $(ls "$meta/trash/$(sub "$t")" | grep -c '|')"
}

steps "$MFS_ROOT/mnt" "$mfs_meta" >"$work/moosefs.txt"
steps "$RAFTMFS_HOME/mnt" "$raft_meta" >"$work/raftmfs.txt"
compare "meta mount" "$work/moosefs.txt" "$work/raftmfs.txt"
