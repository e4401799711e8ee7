// Loads the interop protos with proto-loader (no protoc), for the grpc-js client and server.
"use strict";
const fs = require("fs");
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

/** The client credentials and channel options grpc-go's TLS flags describe. */
function clientSecurity(args) {
  if ((args.use_tls || "false") === "false") return { credentials: grpc.credentials.createInsecure(), options: {} };
  if (args.use_test_ca === "true" && !args.ca_file) throw new Error("--use_test_ca: no test CA is bundled; give --ca_file");
  const read = (file) => (file ? fs.readFileSync(file) : null);
  const credentials = grpc.credentials.createSsl(read(args.ca_file), read(args.client_key_file), read(args.client_cert_file));
  const options = {};
  if (args.server_host_override) {
    options["grpc.ssl_target_name_override"] = args.server_host_override;
    options["grpc.default_authority"] = args.server_host_override;
  }
  return { credentials, options };
}

/** The server credentials for --use_tls, --tls_cert_file, --tls_key_file, --client_ca_file. */
function serverCredentials(args) {
  if ((args.use_tls || "false") === "false") return grpc.ServerCredentials.createInsecure();
  if (!args.tls_cert_file || !args.tls_key_file) throw new Error("--use_tls=true needs --tls_cert_file and --tls_key_file");
  const ca = args.client_ca_file ? fs.readFileSync(args.client_ca_file) : null;
  const pair = { private_key: fs.readFileSync(args.tls_key_file), cert_chain: fs.readFileSync(args.tls_cert_file) };
  return grpc.ServerCredentials.createSsl(ca, [pair], ca !== null);
}

module.exports = { grpc, testing, flags, clientSecurity, serverCredentials };
