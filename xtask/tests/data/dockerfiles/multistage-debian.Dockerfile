# Build on the Rust image, run on Debian slim.
FROM rust:1.79 as builder
WORKDIR /app
COPY . .
RUN cargo build --release

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y ca-certificates libssl3
COPY --from=builder /app/target/release/myapp /usr/local/bin/myapp
ENV RUST_LOG=info
CMD ["myapp"]
