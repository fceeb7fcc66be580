# syntax=docker/dockerfile:1
# The one Latch image: `latch manager` runs the operator, `latch server` an auth server.
# It holds a static binary and the CA certificates (for Redis over TLS and SMTP) and nothing
# else: no shell, no package manager, no libc. `make docker-build` tags it $(IMG) (hack/IMAGE).
# Without Docker, `make image` builds the same image as an OCI tarball (hack/images, with the
# same build flags and user; docs/images.md): keep the two in step.
#
# The build stage runs on the build machine's platform and cross-compiles to the target one, so
# a multi-platform build (docker buildx build --platform linux/amd64,linux/arm64) never emulates.
# charts/latch/test runs this stage's `go build` line on every `make test`, so it cannot rot.

FROM --platform=$BUILDPLATFORM golang:1.26 AS builder
ARG TARGETOS
ARG TARGETARCH
WORKDIR /src
# Modules first: this layer is reused until go.mod or go.sum change.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
# Only what the binary is built from (hack/IMAGE is embedded as the default server image).
COPY *.go ./
COPY api/ api/
COPY controllers/ controllers/
COPY authserver/ authserver/
COPY hack/IMAGE hack/IMAGE
ENV CGO_ENABLED=0
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    GOOS=${TARGETOS} GOARCH=${TARGETARCH} go build -trimpath -ldflags="-s -w" -o /out/latch .

FROM scratch
COPY --from=builder /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=builder /out/latch /latch
# 65532 is the chart's runAsUser/runAsGroup (and distroless's "nonroot").
USER 65532:65532
ENTRYPOINT ["/latch"]
