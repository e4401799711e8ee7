// A grpc-js (Node) interop TestService server, written from the gRPC interop test descriptions.
// grpc-js cannot see whether a request arrived compressed or compress single messages, so the
// compression cases are not served.
// Usage: node interop_server.js --port=PORT [--use_tls=false]
"use strict";
const { grpc, testing, flags, serverCredentials } = require("./common");

const ECHO_INITIAL = "x-grpc-test-echo-initial";
const ECHO_TRAILING = "x-grpc-test-echo-trailing-bin";

function payload(size) {
  return { type: "COMPRESSABLE", body: Buffer.alloc(size) };
}

function echoInitial(call) {
  const value = call.metadata.get(ECHO_INITIAL);
  if (value.length > 0) {
    const md = new grpc.Metadata();
    md.set(ECHO_INITIAL, value[0]);
    call.sendMetadata(md);
  }
}

function echoTrailing(call) {
  const md = new grpc.Metadata();
  const value = call.metadata.get(ECHO_TRAILING);
  if (value.length > 0) md.set(ECHO_TRAILING, value[0]);
  return md;
}

function requestedStatus(status, trailing) {
  if (status && status.code !== 0) {
    return { code: status.code, details: status.message, metadata: trailing };
  }
  return null;
}

const service = {
  EmptyCall(call, callback) {
    callback(null, {});
  },
  UnaryCall(call, callback) {
    echoInitial(call);
    const trailing = echoTrailing(call);
    const error = requestedStatus(call.request.response_status, trailing);
    if (error) return callback(error);
    callback(null, { payload: payload(call.request.response_size) }, trailing);
  },
  CacheableUnaryCall(call, callback) {
    callback(null, { payload: payload(call.request.response_size) });
  },
  StreamingOutputCall(call) {
    sendAll(call, call.request.response_parameters).then(() => call.end());
  },
  StreamingInputCall(call, callback) {
    let total = 0;
    call.on("data", (req) => (total += req.payload ? req.payload.body.length : 0));
    call.on("end", () => callback(null, { aggregated_payload_size: total }));
  },
  FullDuplexCall(call) {
    echoInitial(call);
    const trailing = echoTrailing(call);
    let chain = Promise.resolve();
    call.on("data", (req) => {
      chain = chain.then(async () => {
        const error = requestedStatus(req.response_status, trailing);
        if (error) {
          call.emit("error", error);
          return;
        }
        await sendAll(call, req.response_parameters);
      });
    });
    call.on("end", () => chain.then(() => call.end(trailing)));
  },
  HalfDuplexCall(call) {
    const all = [];
    call.on("data", (req) => all.push(req));
    call.on("end", async () => {
      for (const req of all) await sendAll(call, req.response_parameters);
      call.end();
    });
  },
};

async function sendAll(call, parameters) {
  for (const p of parameters) {
    if (p.interval_us > 0) await new Promise((r) => setTimeout(r, p.interval_us / 1000));
    call.write({ payload: payload(p.size) });
  }
}

function main() {
  const args = flags(process.argv.slice(2));
  const server = new grpc.Server();
  server.addService(testing.TestService.service, service);
  server.bindAsync(`127.0.0.1:${args.port}`, serverCredentials(args), (err, port) => {
    if (err) {
      console.error(err);
      process.exit(1);
    }
    console.log(`listening on 127.0.0.1:${port}`);
  });
}

main();
