#!/usr/bin/env bash
# The test command: installs and starts what the tests need, then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-machine.sh

# The vfs storage driver (the only one BuildKit works with here) keeps a full copy of the 1.3 GB
# builder for every cached build step, and nothing reclaims them. The end-to-end tests need about
# 25 GB; below that, drop the layer cache but keep the cache mounts (cargo registry and target
# directory), so the next build recompiles only the workspace crates.
free_gb=$(df --output=avail -BG /var/lib/docker | tail -1 | tr -dc '0-9')
if ((free_gb < 30)); then
    echo "test.sh: only ${free_gb} GB free: pruning Docker's layer cache (cache mounts kept)"
    DOCKER_BUILDKIT=1 /usr/bin/docker builder prune --force --filter type=regular
    /usr/bin/docker image prune --force
fi

# Compile every test first: the only step here that may fetch crates.
cargo test --workspace --locked --no-run

# No test may send traffic beyond loopback (127.0.0.0/8, ::1). Every test that does not drive the
# Docker Engine runs in a network namespace whose only interface is `lo`, so a stray packet cannot
# leave the machine, and a test that needed the internet would fail here. The engine suites (e2e,
# clean) run outside it: the daemon does their builds, fetching crates and Debian packages for
# the stand-in images as a user's build would.
status=0
loopback_only() { unshare --net -- sh -c 'ip link set lo up && exec "$@"' sh "$@"; }
loopback_only cargo test --frozen --no-fail-fast --workspace --exclude xtask "$@" || status=1
loopback_only cargo test --frozen --no-fail-fast -p xtask --bins \
    --test faults --test hooks --test net_test --test scan --test tidy --test vendor "$@" || status=1
cargo test --frozen --no-fail-fast -p xtask --test e2e --test clean "$@" || status=1
exit "$status"
