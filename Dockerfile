# otactl in a container: a static binary on a minimal base, run as a
# non-root user. Build from a checkout:
#
#   docker build -t otactl .
#   docker run --rm -e OTACTL_BROKER=mqtts://broker.example.com:8883 otactl release list
#
# The build stage makes the same binary as the release build
# (scripts/release): static (CGO_ENABLED=0), -trimpath, stripped, stamped
# with VERSION, COMMIT and DATE. docs/releasing.md has the details; the
# Dockerfile's rules are checked by commands/dockerfile_test.go.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=unknown
ARG DATE=unknown
RUN CGO_ENABLED=0 go build -trimpath \
    -ldflags "-s -w -buildid= -X github.com/otactl/otactl/commands.version=${VERSION} -X github.com/otactl/otactl/commands.commit=${COMMIT} -X github.com/otactl/otactl/commands.date=${DATE}" \
    -o /out/otactl .

# distroless/static: CA certificates for mqtts:// and wss://, /etc/passwd
# with the nonroot user, nothing else (no shell).
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/otactl /usr/local/bin/otactl
# A home for the config file; the OS keyring does not exist in a
# container: give keys as env:VAR or file:PATH, the password as
# OTACTL_PASSWORD.
ENV HOME=/home/nonroot
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/otactl"]
CMD ["--help"]
