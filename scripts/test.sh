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

cargo test --workspace --locked --no-fail-fast "$@"
