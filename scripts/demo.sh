#!/usr/bin/env bash
# The main job: build the minimal image and serve the project's example CV from it.
#
# On an air-gapped machine (or this project's CI machines) no base image can be pulled, so it
# first makes local stand-ins with `cargo xtask base-images` and builds against them. Set
# CV_BASE_IMAGES=public on a machine that can pull the real images.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup-machine.sh
# `cargo xtask` runs quietly; its first compile (about 2 minutes on 2 cores) is shown here instead.
echo "demo: compiling cargo xtask"
cargo build --locked -p xtask
base_images=${CV_BASE_IMAGES:-standin}
if [[ $base_images == standin ]]; then
    cargo xtask base-images
fi
# TLS to the package registries may be intercepted (a company proxy); the host's CA bundle
# reaches the crate-fetching build step as a secret and never lands in the image.
cargo xtask docker --mode minimal --base-images "$base_images" \
    --ca-bundle "${CV_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}" --run "$@"
echo "demo: the container runs detached; stop it with: docker stop cv-minimal (or the --name you gave)"
