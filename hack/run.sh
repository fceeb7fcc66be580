#!/usr/bin/env bash
# run.sh brings the whole Latch system up on this machine until Ctrl-C (`make run`, after
# `make build tools`): a real single-node Kubernetes cluster (internal/kubenode), the working
# tree's images, `helm install` of charts/latch, the operator as a pod, and the dev realm of
# config/dev (every dialect, two replicas, managed Redis) with its clients (internal/devcluster).
# It prints "ready", the endpoints and a first curl when everything is up; Ctrl-C stops the
# node and restores the host. It needs root. hack/run.sh -h lists the flags.
set -euo pipefail
cd "$(dirname "$0")/.."

eval "$(hack/tools.sh --print-env | sed 's/^/export /')"

# Built here, not with `go run`, so that the exec below makes the command this shell's own
# process: a Ctrl-C reaches it directly, and no go-run parent sits between make and it.
bin="bin/latch-run"
printf 'run | building %s...\n' "$bin"
go build -o "$bin" ./hack/run
exec "$bin" "$@"
