#!/usr/bin/env bash
# Rebuilds the vendored GraphiQL assets from the npm registry. The router embeds these
# gzipped files (router/src/graphiql.rs) because the playground must work without a CDN.
# GraphiQL 3 is the last major with a UMD bundle; React 18 the last with UMD builds.
set -euo pipefail
cd "$(dirname "$0")"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent graphiql@3.8.3 react@18.3.1 react-dom@18.3.1 >/dev/null)
for pkg in graphiql-3.8.3 react-18.3.1 react-dom-18.3.1; do
  mkdir -p "$work/$pkg" && tar xzf "$work/$pkg.tgz" -C "$work/$pkg"
done
gzip -9 -n -c "$work/graphiql-3.8.3/package/graphiql.min.js" > graphiql.min.js.gz
gzip -9 -n -c "$work/graphiql-3.8.3/package/graphiql.min.css" > graphiql.min.css.gz
gzip -9 -n -c "$work/react-18.3.1/package/umd/react.production.min.js" > react.production.min.js.gz
gzip -9 -n -c "$work/react-dom-18.3.1/package/umd/react-dom.production.min.js" > react-dom.production.min.js.gz
echo "updated GraphiQL assets"
