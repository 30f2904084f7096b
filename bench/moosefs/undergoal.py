#!/usr/bin/env python3
"""Reads `mfscli -SIC -p` (MooseFS 3.0) on stdin and prints "CHUNKS UNDER MISSING": every chunk,
those under their goal (MooseFS's "endangered" and "undergoal" classes: one copy left of a goal
of two or more counts as under goal, as RaftMFS's mfsmaster_chunks_under_goal counts it) and
those without a copy, from the "all chunks matrix" section."""
import sys

chunks = under = missing = 0
for line in sys.stdin:
    parts = [p.strip() for p in line.rstrip("\n").split("\t")]
    if not parts or parts[0] != "all chunks matrix:":
        continue
    if parts[1] == "goal/copies/chunks:" and len(parts) >= 5:
        chunks += int(parts[4])
    elif parts[1] in ("chunkclass endangered:", "chunkclass undergoal:"):
        under += int(parts[2])
    elif parts[1] == "chunkclass missing:":
        missing += int(parts[2])
print(chunks, under, missing)
