# syntax=docker/dockerfile:1
#
# proofkey's container image: `proofkey serve` on distroless, as nonroot.
#
#   docker build -t proofkey .
#   docker run -p 8080:8080 -v proofkey-data:/data \
#     -e PROOFKEY_ISSUER=https://auth.example.com \
#     -e PROOFKEY_KEY_ENCRYPTION_KEY_FILE=/run/secrets/kek \
#     -v /srv/proofkey/kek:/run/secrets/kek:ro proofkey
#
# Two settings have no usable default here and must be given:
# - PROOFKEY_ISSUER: the public https URL clients reach the server at. A
#   server listening on 0.0.0.0 refuses to start without one.
# - PROOFKEY_KEY_ENCRYPTION_KEY_FILE: the key-encryption key, mounted as a
#   file owned by uid 65532 with mode 0600 (the server refuses a file its
#   group or others can read). Without it the signing keys are stored
#   unencrypted. See docs/operations.md.
# PROOFKEY_DATABASE_URL below takes precedence over `database` in a
# settings file: for PostgreSQL, set the variable, not the file.

# Build on Alpine: its Rust targets musl, which links statically, so the
# binary needs nothing from the image (no libc, no loader).
FROM rust:1-alpine AS build
RUN apk add --no-cache musl-dev gcc g++ make cmake perl
WORKDIR /src
COPY . .
# The registry and target caches make rebuilds incremental (BuildKit).
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p proofkey-cli \
    && install -D -m 0755 target/release/proofkey /out/bin/proofkey \
    && install -d -m 0700 /out/root/data

# A static binary on distroless's static image: CA certificates, /etc/passwd
# with nonroot, nothing else (about 2 MB besides the binary). The binary
# brings its own allocator (mimalloc), so musl's slow malloc is not used;
# mimalloc on musl has not been built or measured here, though: to be sure
# of the measured figures, build on rust:1-bookworm and run on
# gcr.io/distroless/cc-debian12:nonroot instead (docs/operations.md).
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/bin/proofkey /proofkey
# /data owned by nonroot, so that a new volume mounted there starts
# writable by the server.
COPY --from=build --chown=65532:65532 /out/root/ /
USER nonroot
ENV PROOFKEY_DATABASE_URL=sqlite:///data/proofkey.db \
    PROOFKEY_LISTEN=0.0.0.0:8080 \
    PROOFKEY_METRICS_LISTEN=0.0.0.0:9464
VOLUME /data
EXPOSE 8080 9464
ENTRYPOINT ["/proofkey"]
CMD ["serve"]
