#!/usr/bin/env bash
# Installs the interop peers, pinned, from the package registries: grpc-go's interop client and
# server, grpc_health_probe, grpcurl and h2spec (Go module proxy) and grpc-java's (io.grpc:grpc-interop-testing and its dependencies,
# Maven Central) into interop/.peers, and @grpc/grpc-js for our Node driver (npm, from
# interop/node/package-lock.json); and builds our small Go peers in tests/go. All git-ignored; fast
# when already there.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
peers="$here/../.peers"
GRPC_GO_VERSION=v1.85.0
GRPC_JAVA_VERSION=1.79.0
GRPC_HEALTH_PROBE_VERSION=v0.4.61
GRPCURL_VERSION=v1.9.3
mkdir -p "$peers/bin"

stamp="$peers/go-$GRPC_GO_VERSION"
if [ ! -e "$stamp" ]; then
    echo "installing grpc-go $GRPC_GO_VERSION interop client and server"
    gobin="$(mktemp -d)"
    GOBIN="$gobin" GOFLAGS=-mod=mod go install \
        "google.golang.org/grpc/interop/client@$GRPC_GO_VERSION" \
        "google.golang.org/grpc/interop/server@$GRPC_GO_VERSION"
    mv "$gobin/client" "$peers/bin/go-interop-client"
    mv "$gobin/server" "$peers/bin/go-interop-server"
    rm -rf "$gobin"
    touch "$stamp"
fi

stamp="$peers/grpc-health-probe-$GRPC_HEALTH_PROBE_VERSION"
if [ ! -e "$stamp" ]; then
    echo "installing grpc_health_probe $GRPC_HEALTH_PROBE_VERSION"
    GOBIN="$peers/bin" GOFLAGS=-mod=mod go install \
        "github.com/grpc-ecosystem/grpc-health-probe@$GRPC_HEALTH_PROBE_VERSION"
    mv "$peers/bin/grpc-health-probe" "$peers/bin/grpc_health_probe"
    touch "$stamp"
fi

stamp="$peers/grpcurl-$GRPCURL_VERSION"
if [ ! -e "$stamp" ]; then
    echo "installing grpcurl $GRPCURL_VERSION"
    GOBIN="$peers/bin" GOFLAGS=-mod=mod go install \
        "github.com/fullstorydev/grpcurl/cmd/grpcurl@$GRPCURL_VERSION"
    touch "$stamp"
fi

# h2spec v2.2.1 (HTTP/2 conformance, scripts/h2spec.sh), pinned with its dependencies by
# tests/go/h2spec/go.mod: h2spec has no go.mod of its own, and v2.3.0+ cannot be installed with
# modules (design note §5).
stamp="$peers/h2spec-$(sha256sum "$here/../../tests/go/h2spec/go.sum" | cut -c1-16)"
if [ ! -e "$stamp" ]; then
    echo "installing h2spec v2.2.1"
    (cd "$here/../../tests/go/h2spec" && GOBIN="$peers/bin" go install \
        github.com/summerwind/h2spec/cmd/h2spec)
    touch "$stamp"
fi

# Our own small grpc-go server with grpc-go's health and reflection services (tests/go).
stamp="$peers/go-health-reflection-server-$(sha256sum "$here/../../tests/go/healthserver/go.sum" | cut -c1-16)"
if [ ! -e "$stamp" ]; then
    echo "building the grpc-go health and reflection server"
    (cd "$here/../../tests/go/healthserver" && go build -o "$peers/bin/go-health-reflection-server" .)
    touch "$stamp"
fi

# grpc-go's channelz client, asking a Tern server for its channelz view (tests/go/channelzclient).
stamp="$peers/go-channelz-client-$(cat "$here/../../tests/go/channelzclient/go.sum" "$here/../../tests/go/channelzclient/main.go" | sha256sum | cut -c1-16)"
if [ ! -e "$stamp" ]; then
    echo "building grpc-go's channelz client"
    (cd "$here/../../tests/go/channelzclient" && go build -o "$peers/bin/go-channelz-client" .)
    touch "$stamp"
fi

# grpc-go's interop service and cases over mutual TLS, and the auth cases' service account key
# and token endpoint (tests/go/tlspeer).
stamp="$peers/tlspeer-$(cat "$here/../../tests/go/tlspeer/go.sum" "$here/../../tests/go/tlspeer/main.go" | sha256sum | cut -c1-16)"
if [ ! -e "$stamp" ]; then
    echo "building tlspeer, grpc-go's side of the TLS interop runs"
    (cd "$here/../../tests/go/tlspeer" && go build -o "$peers/bin/tlspeer" .)
    touch "$stamp"
fi

stamp="$peers/java-$GRPC_JAVA_VERSION"
if [ ! -e "$stamp" ]; then
    echo "installing grpc-java $GRPC_JAVA_VERSION interop client and server"
    rm -rf "$peers/java"
    mkdir -p "$peers/java"
    (cd "$here/java" && mvn -q -B -Dstyle.color=never package -Dgrpc.version="$GRPC_JAVA_VERSION" \
        -Dpeers.dir="$peers/java")
    touch "$stamp"
fi
# The launchers (cheap, so written every time): the interop client and server, and the xDS
# test server, whose rpc-behavior metadata (grpc/grpc doc/xds-test-descriptions.md) makes calls
# fail until a given retry attempt: the peer for the client's retries.
for role in client:TestServiceClient server:TestServiceServer xds-server:XdsTestServer; do
    cat > "$peers/bin/java-interop-${role%%:*}" <<SCRIPT
#!/usr/bin/env bash
exec java -cp '$peers/java/lib/*' io.grpc.testing.integration.${role##*:} "\$@"
SCRIPT
    chmod +x "$peers/bin/java-interop-${role%%:*}"
done

node_dir="$here/../node"
stamp="$node_dir/node_modules/.installed-$(sha256sum "$node_dir/package-lock.json" | cut -c1-16)"
if [ ! -e "$stamp" ]; then
    echo "installing @grpc/grpc-js for the Node interop driver"
    (cd "$node_dir" && npm ci --silent --no-audit --no-fund)
    touch "$stamp"
fi
