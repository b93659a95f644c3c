#!/usr/bin/env bash
# Runs everything CI checks, on the real servers: starts any that is down, then the
# formatting check, clippy with warnings denied, and the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."

# Builds outlive the clone so that warm runs are fast; a fresh machine still works.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/platform-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

eval "$(scripts/services.sh)"
export TEST_PYTHON

cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# Checked-in SDLs and supergraph match the code, compose, and break nothing undeclared.
scripts/schema.sh --check
# docker-compose.yml is valid: Debian's docker-compose validates it without an engine.
if ! command -v docker-compose >/dev/null 2>&1; then
  apt-get install -y -qq docker-compose >/dev/null 2>&1 \
    || { apt-get update -qq && apt-get install -y -qq docker-compose >/dev/null; }
fi
docker-compose -f docker-compose.yml config --quiet
# The Kubernetes overlays render, and every document validates against the API schemas
# offline (kubectl's kustomize and kubernetes-validate, pinned, in a venv under ~/.cache).
scripts/kubernetes.sh

# The end-to-end suite's real clients: the graphql-ws and Playwright npm packages (pinned by
# e2e/clients/package-lock.json) and Debian's Chromium for GraphiQL.
if [ ! -d e2e/clients/node_modules ] || ! cmp -s e2e/clients/package-lock.json e2e/clients/node_modules/.package-lock.json; then
  (cd e2e/clients && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi
# Hive Gateway, the peer of the router's differential tests (and benchmark), pinned by
# router/benches/hive-gateway/package-lock.json (npm's own copy in node_modules is not
# byte-identical to it, so the install leaves one that is, to skip reinstalling).
hive_gateway=router/benches/hive-gateway
if ! cmp -s "$hive_gateway/package-lock.json" "$hive_gateway/node_modules/.installed-package-lock.json"; then
  (cd "$hive_gateway" && npm ci --no-audit --no-fund --loglevel=error >/dev/null \
    && cp package-lock.json node_modules/.installed-package-lock.json)
fi
if ! command -v chromium >/dev/null 2>&1; then
  apt-get install -y -qq chromium >/dev/null 2>&1 \
    || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }
fi

if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast --profile ci
else
  cargo test --workspace --locked --no-fail-fast
fi

# A short bounded fuzzing run of every cargo-fuzz target (router request parsing, validation
# and planning; event decoding), replaying the grown corpus; longer runs on demand:
# scripts/fuzz.sh 600. The smoke run builds the targets unoptimised: cold, 190 s instead of
# 403 s, for 20 to 60 times fewer executions in its 15 s (measured 2026-12-06).
FUZZ_PROFILE="${FUZZ_PROFILE:-dev}" scripts/fuzz.sh "${CI_FUZZ_SECONDS:-15}"
