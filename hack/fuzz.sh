#!/usr/bin/env bash
# fuzz.sh runs every Go fuzz target in the module for a number of executions (default 10000
# each): a smoke run in `make test`, longer on demand (`FUZZTIME=1000000x make fuzz`). Counts,
# not durations: see the Makefile's note on golang/go#75804.
set -euo pipefail
cd "$(dirname "$0")/.."
t="${1:-10000x}"
n=0
while IFS= read -r line; do
  file="${line%%:*}"; fn="$(sed -E 's/^.*func (Fuzz[A-Za-z0-9_]*).*/\1/' <<<"$line")"
  pkg="./$(dirname "${file#./}")"
  echo "[fuzz] $pkg $fn ($t)"
  go test -run='^$' -fuzz="^${fn}\$" -fuzztime="$t" "$pkg" >/tmp/latch-fuzz.log 2>&1 || { cat /tmp/latch-fuzz.log; exit 1; }
  n=$((n+1))
done < <(grep -rEn --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*\(' . | sort)
echo "[fuzz] $n fuzz targets ran for $t each without a failure"
