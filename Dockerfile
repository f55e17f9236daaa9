# profilebox in a container. Build: `docker build -t profilebox .`; run and upgrade: README,
# "Run it in a container". Two stages: Rust builds the binary, a slim Debian (the same release,
# so the same glibc) runs it as a user that is not root.

FROM docker.io/library/rust:1-bookworm AS builder
WORKDIR /src
COPY . .
# The registry and target folders are build caches, so a rebuild compiles only what changed;
# the binary is copied out of the cache for the next stage.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked \
 && cp target/release/profilebox /usr/local/bin/profilebox

FROM docker.io/library/debian:bookworm-slim AS runtime
# A fixed uid and gid, so that a folder mounted from the host can be given to them
# (`chown 10001:10001`). The data folder is private, as the service wants it (mode 0700).
RUN groupadd --gid 10001 profilebox \
 && useradd --uid 10001 --gid profilebox --home-dir /data --no-create-home \
      --shell /usr/sbin/nologin profilebox \
 && install -d -m 0700 -o profilebox -g profilebox /data
COPY --from=builder /usr/local/bin/profilebox /usr/local/bin/profilebox
USER profilebox:profilebox
# A Rocket.toml placed in the volume is read; ROCKET_* variables override it.
WORKDIR /data
ENV ROCKET_ADDRESS=0.0.0.0 \
    ROCKET_PORT=8000 \
    ROCKET_DATA_DIR=/data
VOLUME ["/data"]
EXPOSE 8000
# The image has no curl: the binary checks itself (GET /api/health on loopback, exit 0 or 1).
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["profilebox", "healthcheck"]
# The service stops cleanly on SIGTERM: it answers the requests in flight, then exits 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["profilebox"]
CMD ["serve"]
