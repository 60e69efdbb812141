# The careful version: bases pinned by tag and digest, distroless non-root runtime.
ARG RUST_VERSION=1.79
FROM docker.io/library/rust:${RUST_VERSION}-slim-bookworm@sha256:9d0a5ed7c5d5a1a0a6d5d0ef22a0e6c2c3df5a6b81ad8a9a5e1b2f74c2c9f5f0 AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    cargo build --release --locked

FROM gcr.io/distroless/cc-debian12:nonroot@sha256:3b75fdd33932d16e53a461277becf57c4f815c6cee5f6bc8f52457c095e004c8
COPY --from=build /src/target/release/app /app
ENTRYPOINT ["/app"]
