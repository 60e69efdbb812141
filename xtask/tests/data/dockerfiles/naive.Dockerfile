# The first Dockerfile many projects start with: one stage, the whole toolchain shipped.
FROM rust:latest

WORKDIR /usr/src/app
COPY . .
RUN cargo install --path .

EXPOSE 8080
CMD ["myapp"]
