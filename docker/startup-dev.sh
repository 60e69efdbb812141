#!/bin/sh
# Entry point of the dev image: serves the mounted tree under watchexec, rebuilding and restarting
# the server on every change, as the host user so files written into the tree are theirs.
#
# HOST_UID / HOST_GID (from docker-compose.dev.yml) name that user; CV_DEV_POLL=1 makes the
# watcher poll, for mounts that deliver no inotify events (some VM-backed Docker Desktop setups).
set -eu

uid="${HOST_UID:-1000}"
gid="${HOST_GID:-1000}"
workspace=/workspace

if [ ! -f "$workspace/Cargo.toml" ]; then
    echo "startup-dev: no Cargo.toml in $workspace: mount the repository there (see docker-compose.dev.yml)" >&2
    exit 1
fi

if [ "$(id -u)" = 0 ]; then
    # Fresh named volumes belong to root. Only a volume whose top is not yet the host user's is
    # chowned, so a restart does not walk a large target dir again.
    for dir in "$CARGO_HOME" "$CARGO_TARGET_DIR" "$CV_DATA_DIR"; do
        mkdir -p "$dir"
        if [ "$(stat -c %u:%g "$dir")" != "$uid:$gid" ]; then
            echo "startup-dev: giving $dir to $uid:$gid"
            chown -R "$uid:$gid" "$dir"
        fi
    done
    chmod 0700 "$CV_DATA_DIR"
    # Drop root for good before running anything from the mounted tree.
    set -- setpriv --reuid="$uid" --regid="$gid" --clear-groups --
else
    set --
fi

# Crates are fetched at run time here: on a network that intercepts TLS, the CA bundle given as
# the `ca_bundle` secret (CV_CA_BUNDLE in docker-compose.dev.yml) is what cargo must trust.
if [ -s /run/secrets/ca_bundle ]; then
    export CARGO_HTTP_CAINFO=/run/secrets/ca_bundle
fi

# cargo and rustup need a writable HOME only for files they would not keep; /tmp is a tmpfs.
export HOME=/tmp
cd "$workspace"
echo "startup-dev: watching $workspace as $uid:$gid; the server restarts on every change"
exec "$@" watchexec --restart --stop-signal SIGTERM --stop-timeout 10s --debounce 300ms \
    ${CV_DEV_POLL:+--poll} \
    --watch crates --watch examples --watch Cargo.toml --watch Cargo.lock \
    --exts rs,toml,html,css,json,md \
    -- cargo run --locked -p cv -- serve
