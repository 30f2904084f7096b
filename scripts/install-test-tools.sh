#!/usr/bin/env bash
# Install the outside tools the tests use, when missing: Prometheus (promtool and the server,
# for the rule and alert tests), Chromium (the status page's browser test), and the external
# file-system test suites used by tests/tests/mount_pjdfstest.rs and tests/tests/mount_fsx.rs:
#   - pjdfstest (crates.io, the Rust rewrite of the POSIX suite)
#   - fsx       (crates.io, fsx-rs, the File System eXerciser)
# into a fixed root outside the repository (RAFTMFS_TOOLS, default /var/tmp/raftmfs-tools) so
# CI runs reuse them; and create the `tests` user (and group) pjdfstest switches to.
# Idempotent: quick when everything is already there. Prints nothing on success but the
# installs it does.
set -euo pipefail

ROOT="${RAFTMFS_TOOLS:-/var/tmp/raftmfs-tools}"
mkdir -p "$ROOT"

# cargo install takes a lock on the root, so concurrent callers (parallel tests) serialize;
# the flock keeps the second caller from starting a redundant build check meanwhile.
exec 9>"$ROOT/.install.lock"
flock 9

install_crate() { # crate binary
    if [ ! -x "$ROOT/bin/$2" ]; then
        echo "installing $1 into $ROOT" >&2
        cargo install --locked "$1" --root "$ROOT" >&2
    fi
}
install_crate pjdfstest pjdfstest
install_crate fsx fsx

# pjdfstest's default dummy users: `nobody` (with its own gid) and `tests`/`tests`.
if ! getent passwd tests >/dev/null; then
    if [ "$(id -u)" -ne 0 ]; then
        # pjdfstest only runs as root anyway; fsx does not need the user.
        echo "warning: user 'tests' is missing and only root can create it" >&2
        exit 0
    fi
    nologin=/usr/sbin/nologin
    [ -x "$nologin" ] || nologin=/bin/false
    if command -v newusers >/dev/null; then
        echo "tests:x:::Dummy user for pjdfstest:/:$nologin" | newusers
    else
        useradd -U -M -d / -s "$nologin" -c "Dummy user for pjdfstest" tests
    fi
fi
if [ "$(id -u)" -eq 0 ] && ! getent group tests >/dev/null; then groupadd tests; fi

# Prometheus (promtool for the rule tests, the server for the end-to-end alert test), from
# Debian's package; its service is not started (a policy-rc.d refuses it during the install).
if ! command -v promtool >/dev/null || ! command -v prometheus >/dev/null; then
    echo "installing prometheus (Debian package)" >&2
    policy=/usr/sbin/policy-rc.d
    made_policy=
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && made_policy=1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
    [ -z "$made_policy" ] || rm -f "$policy"
fi

# Chromium (headless) for the status page's browser test (tests/tests/status_page.rs).
if ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null; then
    echo "installing chromium (Debian package)" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
