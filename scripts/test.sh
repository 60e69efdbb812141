#!/usr/bin/env bash
# The test command: installs and starts what the tests need, then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-machine.sh
cargo test --workspace --locked "$@"
