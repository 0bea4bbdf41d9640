# hooklane's image: one static binary that runs every role.
#
#   docker build -t hooklane:local .
#   docker run --rm hooklane:local version
#
# The build is `make build`, the same as on a workstation; the Go version is
# go.mod's (deploy/compose_test.go checks both). The build context has no
# .git, so the version comes in as a build argument: docker-compose.yml
# passes HOOKLANE_VERSION, which make compose-up sets from git describe.
#   docker build --build-arg VERSION=$(git describe --tags --match 'v[0-9]*' --always --dirty) -t hooklane:local .

FROM golang:1.27.3-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=devel
# The Go build cache outlives the image: a rebuild compiles what changed.
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    make build VERSION=$VERSION

# distroless/static: CA certificates, tzdata and a nonroot user (65532), no shell.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /src/bin/hooklane /hooklane
COPY hooklane.example.yaml /etc/hooklane/hooklane.yaml
ENV HOOKLANE_CONFIG=/etc/hooklane/hooklane.yaml
# "hooklane all" keeps its embedded NATS store under ./data here.
WORKDIR /home/nonroot
USER nonroot:nonroot
EXPOSE 8080
ENTRYPOINT ["/hooklane"]
CMD ["all"]
