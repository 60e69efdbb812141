#!/usr/bin/env bash
# Kept for muscle memory and old CI jobs: the build logic lives in Rust (`cargo xtask docker --help`).
exec cargo xtask docker "$@"
