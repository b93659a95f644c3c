#!/usr/bin/env bash
# The schema workflow.
#
#   scripts/schema.sh           regenerate schema/<subgraph>.graphql (each binary's
#                               `print-schema`), schema/supergraph.graphql, schema/api.graphql
#                               and schema/persisted-documents.json (the manifest of
#                               schema/operations, for the router's persisted documents)
#   scripts/schema.sh --check   fail if any of them differs from what the code produces, if
#                               composition fails, if a change to the API schema since the
#                               previous commit is breaking and not declared in CHANGELOG.md,
#                               or if an operation in schema/operations or README.md is invalid
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/platform-target}"

check=false
[ "${1:-}" = "--check" ] && check=true

subgraphs=$(sed -n 's/^  \([a-z_-]*\):$/\1/p' supergraph.yaml)

# Node tools, pinned by scripts/schema/package-lock.json.
if [ ! -d scripts/schema/node_modules ] || ! cmp -s scripts/schema/package-lock.json scripts/schema/node_modules/.package-lock.json; then
  (cd scripts/schema && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

bins=""
for name in $subgraphs; do bins="$bins -p $name"; done
# shellcheck disable=SC2086
cargo build --quiet --locked $bins
for name in $subgraphs; do
  "$CARGO_TARGET_DIR/debug/$name" print-schema > "$out/$name.graphql"
done
node scripts/schema/schema.mjs compose "$out" "$out"
node scripts/schema/schema.mjs manifest "$out/persisted-documents.json" schema/operations/*.graphql >/dev/null

if ! $check; then
  for name in $subgraphs supergraph api; do cp "$out/$name.graphql" "schema/$name.graphql"; done
  cp "$out/persisted-documents.json" schema/persisted-documents.json
  echo "schema/ updated"
  exit 0
fi

stale=false
for name in $subgraphs supergraph api; do
  if ! diff -u "schema/$name.graphql" "$out/$name.graphql" > "$out/$name.diff" 2>&1; then
    echo "schema/$name.graphql is stale: run scripts/schema.sh and commit the result" >&2
    head -40 "$out/$name.diff" >&2
    stale=true
  fi
done
if ! diff -u schema/persisted-documents.json "$out/persisted-documents.json" > "$out/manifest.diff" 2>&1; then
  echo "schema/persisted-documents.json is stale: run scripts/schema.sh and commit the result" >&2
  head -40 "$out/manifest.diff" >&2
  stale=true
fi
$stale && exit 1

# Breaking changes against the previous commit's API schema.
if git rev-parse --verify --quiet HEAD~1 >/dev/null && git cat-file -e HEAD~1:schema/api.graphql 2>/dev/null; then
  git show HEAD~1:schema/api.graphql > "$out/previous-api.graphql"
  node scripts/schema/schema.mjs breaking "$out/previous-api.graphql" schema/api.graphql CHANGELOG.md
fi

node scripts/schema/schema.mjs operations schema/api.graphql schema/operations/*.graphql README.md
