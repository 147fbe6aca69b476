# flashcrowd container image: the binary on a slim Debian, run as an
# unprivileged user. `flashcrowd k8s render` expects this layout: the binary
# on PATH, `sh` for the pods' small wrappers, `tar` for `kubectl cp`.
#
#   docker build -t registry.example/flashcrowd:0.1.0 .
#
# Open files: flashcrowd raises its soft limit to the hard limit at start,
# so the hard limit the container runtime grants (`ulimit -Hn` inside the
# container) caps the connections one pod can hold.

# Any stable Rust at or above Cargo.toml's rust-version; pin a full version
# (rust:1.xx-slim-bookworm) for reproducible images.
FROM rust:1-slim-bookworm AS build
# The Toxiproxy client links OpenSSL.
RUN apt-get update \
 && apt-get install -y --no-install-recommends pkg-config libssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin flashcrowd

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libssl3 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 10001 flashcrowd \
 && useradd --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin flashcrowd
COPY --from=build /src/target/release/flashcrowd /usr/local/bin/flashcrowd
# The numeric id lets Kubernetes check runAsNonRoot without reading /etc/passwd.
USER 10001:10001
ENTRYPOINT ["flashcrowd"]
CMD ["--help"]
