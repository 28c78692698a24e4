# syntax=docker/dockerfile:1
# One image per binary, built from source:
#   docker build --build-arg BINARY=llm-agent -t agentid/llm-agent .
# BINARY is llm-agent, weather-api, token-refresher or cloudsim. The images
# are distroless/static: no shell, no package manager, UID 65532, the CA
# roots included. Multi-arch: docker buildx build --platform linux/amd64,linux/arm64.
ARG GO_VERSION=1.26

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
ARG BINARY
ARG VERSION=dev
ARG TARGETOS TARGETARCH
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN test -n "$BINARY" || (echo "set --build-arg BINARY=<llm-agent|weather-api|token-refresher|cloudsim>" >&2; exit 1)
RUN CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/app ./cmd/${BINARY} && \
    mkdir -p /out/empty

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/app /app
# Mount points owned by the runtime user, so named volumes start writable:
# /azure-token (the web identity file), /state (cloudsim's state) and /trust
# (the certificates cloudsim publishes for the others).
COPY --from=build --chown=65532:65532 /out/empty /azure-token
COPY --from=build --chown=65532:65532 /out/empty /state
COPY --from=build --chown=65532:65532 /out/empty /trust
USER 65532:65532
ENTRYPOINT ["/app"]
