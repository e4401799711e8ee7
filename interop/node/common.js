// Loads the interop protos with proto-loader (no protoc), for the grpc-js client and server.
"use strict";
const path = require("path");
const protoLoader = require("@grpc/proto-loader");
const grpc = require("@grpc/grpc-js");

const definition = protoLoader.loadSync("grpc/testing/test.proto", {
  includeDirs: [path.join(__dirname, "..", "proto")],
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: true,
});
const testing = grpc.loadPackageDefinition(definition).grpc.testing;

/** Reads --flag=value and --flag value. */
function flags(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith("--")) continue;
    const eq = arg.indexOf("=");
    if (eq >= 0) out[arg.slice(2, eq)] = arg.slice(eq + 1);
    else out[arg.slice(2)] = argv[++i];
  }
  return out;
}

module.exports = { grpc, testing, flags };
