#!/usr/bin/env bash
# run.sh brings the whole Latch system up on this machine until Ctrl-C (`make run`, after
# `make build tools`): a redis-server, a local control plane, the chart's CRDs, the operator,
# the dev realm (hack/devstack/manifests) and its auth-server replicas as local processes.
# It prints "ready", the endpoints and a first curl when everything is up. Flags go to the
# devstack command (hack/run.sh -h lists them), e.g. hack/run.sh --public-port 0.
set -euo pipefail
cd "$(dirname "$0")/.."

eval "$(hack/tools.sh --print-env | sed 's/^/export /')"

# Built here, not with `go run`, so that the exec below makes the stack this shell's own
# process: a Ctrl-C reaches it directly, and no go-run parent sits between make and it.
bin="bin/devstack"
printf 'devstack | building %s...\n' "$bin"
go build -o "$bin" ./hack/devstack/cmd/devstack
exec "$bin" --latch-bin bin/latch "$@"
