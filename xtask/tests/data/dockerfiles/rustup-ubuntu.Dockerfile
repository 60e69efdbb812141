# Toolchain installed by hand on Ubuntu, the way many CI images are made.
FROM ubuntu:22.04

ARG GITHUB_TOKEN
ENV DEBIAN_FRONTEND=noninteractive \
    API_KEY=sk-test-0000000000

RUN apt-get update && apt-get install -y curl build-essential pkg-config libssl-dev
RUN curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y
ENV PATH="/root/.cargo/bin:${PATH}"

ADD https://github.com/example/tool/releases/download/v1.0/tool.tar.gz /tmp/
RUN pip install awscli
WORKDIR /build
COPY . .
RUN cargo build --release
USER root
CMD ["./target/release/app"]
