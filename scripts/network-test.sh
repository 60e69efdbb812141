#!/usr/bin/env bash
# Kept for muscle memory and old CI jobs: the checks live in Rust (`cargo xtask net-test --help`).
exec cargo xtask net-test "$@"
