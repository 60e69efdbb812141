#!/usr/bin/env bash
# Kept for muscle memory and old CI jobs: vendor, cache, clean and bench live in Rust (`cargo xtask optimize --help`).
exec cargo xtask optimize "$@"
