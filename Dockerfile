# Multi-stage build of every service binary; pick one at run time with BIN.
#   docker build -t platform .
#   docker run -e BIN=auth platform
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p auth -p payments -p notifications -p router \
    && mkdir -p /out \
    && cp target/release/auth target/release/payments target/release/notifications target/release/router /out/

FROM debian:bookworm-slim AS runtime
# curl serves the compose health checks; ca-certificates for TLS to external services.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin app \
    && mkdir -p /app/data /app/logs && chown -R app:app /app
WORKDIR /app
COPY --from=build /out/ /usr/local/bin/
COPY schema/ /app/schema/
COPY subgraphs/notifications/templates/ /app/templates/
USER app
ENV HOST=0.0.0.0 DATA_DIR=/app/data NOTIFICATIONS_TEMPLATES_DIR=/app/templates BIN=router
# exec keeps the service as PID 1, so SIGTERM reaches it and shutdown drains requests.
CMD ["sh", "-c", "exec \"$BIN\""]
