//go:build tools

// Package h2spec pins h2spec (github.com/summerwind/h2spec v2.2.1, the last v2 tag the Go
// module proxy can serve) and its dependencies, for interop/peers/install.sh, which builds it
// with `go install github.com/summerwind/h2spec/cmd/h2spec` from this directory. h2spec has
// no go.mod of its own, so without this file its dependencies would float to their latest.
package h2spec

import _ "github.com/summerwind/h2spec/cmd/h2spec"
