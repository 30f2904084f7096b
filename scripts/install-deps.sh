#!/usr/bin/env bash
# Install what building and testing RaftMFS needs, when it is missing (Debian/Ubuntu, as root).
set -euo pipefail
need=()
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
for p in libclang-dev clang pkg-config fuse3 libfuse3-dev iproute2 procps nftables; do
  have_pkg "$p" || need+=("$p")
done
if ((${#need[@]})); then
  echo "installing: ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
if ! command -v cargo >/dev/null; then
  echo "cargo is missing: install a Rust toolchain (rustup) first" >&2
  exit 1
fi
