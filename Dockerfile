# syntax=docker/dockerfile:1
#
# Rotor container image.
#
#   docker build -t rotor .
#   docker run -d --name rotor -p 8443:8080 -v rotor-data:/data -v /etc/rotor/tls:/tls:ro \
#       -e ROTOR_TLS_CERT_FILE=/tls/cert.pem -e ROTOR_TLS_KEY_FILE=/tls/key.pem \
#       -e ROTOR_ADMIN_TOKEN="$(openssl rand -hex 32)" \
#       -e ROTOR_MASTER_KEY="$(openssl rand -base64 32)" rotor
#
# (In production, pass the two secrets from a secret store, not from the command line.) Behind a
# TLS-terminating proxy, replace the two ROTOR_TLS_* settings with -e ROTOR_ALLOW_PLAINTEXT=1; see
# the note at ROTOR_ALLOW_PLAINTEXT below and docs/security.md.

# ================================================================================================
# Build stage
# ================================================================================================
# The toolchain must be 6.2 or newer: several pinned dependencies (async-http-client 1.37,
# swift-log 1.16.2, swift-service-lifecycle 2.13, ...) declare swift-tools-version 6.2, which a
# 6.1 toolchain cannot load. 6.3 is the toolchain the project is developed and tested with.
ARG SWIFT_VERSION=6.3
FROM swift:${SWIFT_VERSION}-bookworm AS build

# COpenSSL wraps Debian's OpenSSL; libsqlite3-dev is for the SQLite store.
RUN export DEBIAN_FRONTEND=noninteractive \
    && apt-get -q update \
    && apt-get -q install -y --no-install-recommends libssl-dev libsqlite3-dev \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /build

# Dependencies first, so that this layer is reused until the manifest or the pins change.
# (Package.resolved is optional: the glob lets the COPY succeed without it.)
COPY Package.swift Package.resolved* ./
RUN swift package resolve

# Then the sources. Tests/ is copied too: SwiftPM loads every target of the manifest, and a
# test target whose directory is missing is an error even when only `rotor` is built.
COPY COpenSSL ./COpenSSL
COPY Sources ./Sources
COPY Plugins ./Plugins
COPY Tests ./Tests
COPY openapi.yaml ./

# Swift's runtime and Foundation are linked statically; OpenSSL (COpenSSL links libssl and
# libcrypto) stays dynamic and comes from the runtime image's libssl3.
RUN swift build -c release --product rotor --static-swift-stdlib

WORKDIR /staging
RUN cp "$(swift build --package-path /build -c release --show-bin-path)/rotor" ./

# ================================================================================================
# Runtime stage
# ================================================================================================
FROM debian:bookworm-slim

# Runtime libraries: OpenSSL 3 (libssl.so.3, libcrypto.so.3), SQLite, CA roots for outbound TLS.
# The binary's other dynamic dependencies (libc, libm, libstdc++6, libgcc-s1) are already in the
# base image (apt depends on them); `ldd rotor` lists nothing else.
RUN export DEBIAN_FRONTEND=noninteractive \
    && apt-get -q update \
    && apt-get -q install -y --no-install-recommends libssl3 ca-certificates libsqlite3-0 \
    && rm -rf /var/lib/apt/lists/*

# An unprivileged system user without a login shell, and its owner-only data directory.
RUN groupadd --system --gid 10001 rotor \
    && useradd --system --uid 10001 --gid rotor --no-create-home \
        --home-dir /data --shell /usr/sbin/nologin rotor \
    && install -d -o rotor -g rotor -m 0700 /data

COPY --from=build /staging/rotor /usr/local/bin/rotor

# Declared after /data is created with its owner and mode, so a new volume starts with both.
VOLUME /data

# TZ: log timestamps in UTC, and with TZ set glibc's localtime() no longer stat()s
# /etc/localtime once per log line (one syscall per request with the access log on).
#
# ROTOR_LISTEN: a container must listen on all of its interfaces to be reachable at all, and
# `rotor serve` refuses a non-loopback address without TLS, since bearer tokens and
# `GET …/secret` answers would cross the network in clear.
#
# ROTOR_ALLOW_PLAINTEXT=0, on purpose: the image does not turn that refusal off for everyone who
# runs it. A bare `docker run -p 8080:8080 rotor` publishes the port on every host interface, which
# is exactly the exposure the check exists for; an image default of 1 would make the check a no-op
# for the deployments it matters most to. So the operator chooses, and a container without a
# choice exits 78 saying what to set:
#   - TLS in Rotor: mount a certificate and key and set ROTOR_TLS_CERT_FILE / ROTOR_TLS_KEY_FILE
#     (kill -HUP the process, or `docker kill -s HUP`, after renewing them); or
#   - a TLS-terminating proxy, ingress or service-mesh sidecar in front: set
#     ROTOR_ALLOW_PLAINTEXT=1, and keep the port off any network the proxy is not alone on.
ENV ROTOR_DATA_DIR=/data \
    ROTOR_LISTEN=0.0.0.0:8080 \
    ROTOR_ALLOW_PLAINTEXT=0 \
    TZ=UTC

EXPOSE 8080

USER rotor:rotor

# No HEALTHCHECK: the image has no curl or wget to call GET /healthz with, and adding one only
# for that would grow the attack surface. Probe /healthz (liveness) and /readyz (readiness) from
# the orchestrator instead, e.g. Kubernetes httpGet probes on port 8080 (`scheme: HTTPS` when
# Rotor serves TLS; the kubelet does not check the certificate).

ENTRYPOINT ["/usr/local/bin/rotor"]
CMD ["serve"]
