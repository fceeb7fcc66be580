#!/usr/bin/env bash
# verify.sh regenerates everything generated and fails if the work tree changed, so a stale
# CRD, RBAC rule, deepcopy or chart copy cannot be committed.
set -euo pipefail
cd "$(dirname "$0")/.."
unformatted="$(gofmt -l $(git ls-files '*.go'))"
if [ -n "$unformatted" ]; then
  echo "verify: gofmt needed on:"; echo "$unformatted"; exit 1
fi
make -s generate manifests
if ! git diff --quiet -- api config charts docs; then
  echo "verify: generated files are stale; run 'make generate manifests' and commit:"
  git diff --stat -- api config charts docs
  exit 1
fi
if [ -n "$(git status --porcelain --untracked-files=all -- api config charts docs)" ]; then
  echo "verify: untracked generated files; run 'make generate manifests' and commit:"
  git status --porcelain -- api config charts docs
  exit 1
fi
echo "verify: generated files are up to date"
