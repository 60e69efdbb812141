#!/usr/bin/env bash
# Installs and starts what builds and tests need on a fresh Debian machine (idempotent).
set -euo pipefail
