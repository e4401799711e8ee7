// A grpc-js (Node) interop test client, written from the gRPC interop test descriptions, for the
// cases grpc-js's public API can express.
// Usage: node interop_client.js --server_host=HOST --server_port=PORT --test_case=CASE
"use strict";
const assert = require("assert");
const { grpc, testing, flags, clientSecurity } = require("./common");

const CASES = [
  "empty_unary",
  "large_unary",
  "client_streaming",
  "server_streaming",
  "ping_pong",
  "empty_stream",
  "cancel_after_begin",
  "cancel_after_first_response",
  "timeout_on_sleeping_server",
  "custom_metadata",
  "status_code_and_message",
  "special_status_message",
  "unimplemented_method",
  "unimplemented_service",
];

const zeros = (size) => ({ body: Buffer.alloc(size) });
const largeRequest = () => ({ response_size: 314159, payload: zeros(271828) });
const unary = (client, method, request, metadata = new grpc.Metadata(), options = {}) =>
  new Promise((resolve, reject) => {
    const call = client[method](request, metadata, options, (err, reply) =>
      err ? reject(err) : resolve({ reply, call }),
    );
  });

async function expectCode(promise, code, message) {
  try {
    await promise;
  } catch (err) {
    assert.strictEqual(err.code, code, `expected code ${code}, got ${err.code}: ${err.details}`);
    if (message !== undefined) assert.strictEqual(err.details, message);
    return err;
  }
  throw new Error(`expected code ${code}, the call succeeded`);
}

/** Reads a duplex call's responses one at a time. */
function reader(call) {
  const queue = [];
  const waiting = [];
  const deliver = (item) => (waiting.length ? waiting.shift()(item) : queue.push(item));
  call.on("data", (m) => deliver({ message: m }));
  call.on("end", () => deliver({ end: true }));
  call.on("error", (e) => deliver({ error: e }));
  return () =>
    new Promise((resolve, reject) => {
      const take = (item) => (item.error ? reject(item.error) : resolve(item.end ? null : item.message));
      queue.length ? take(queue.shift()) : waiting.push(take);
    });
}

const cases = {
  async empty_unary(client) {
    const { reply } = await unary(client, "EmptyCall", {});
    assert.deepStrictEqual(reply, {});
  },
  async large_unary(client) {
    const { reply } = await unary(client, "UnaryCall", largeRequest());
    assert.strictEqual(reply.payload.body.length, 314159);
  },
  async client_streaming(client) {
    const reply = await new Promise((resolve, reject) => {
      const call = client.StreamingInputCall((err, r) => (err ? reject(err) : resolve(r)));
      for (const size of [27182, 8, 1828, 45904]) call.write({ payload: zeros(size) });
      call.end();
    });
    assert.strictEqual(reply.aggregated_payload_size, 74922);
  },
  async server_streaming(client) {
    const sizes = [31415, 9, 2653, 58979];
    const call = client.StreamingOutputCall({
      response_parameters: sizes.map((size) => ({ size })),
    });
    const next = reader(call);
    for (const size of sizes) assert.strictEqual((await next()).payload.body.length, size);
    assert.strictEqual(await next(), null);
  },
  async ping_pong(client) {
    const call = client.FullDuplexCall();
    const next = reader(call);
    for (const [size, body] of [[31415, 27182], [9, 8], [2653, 1828], [58979, 45904]]) {
      call.write({ response_parameters: [{ size }], payload: zeros(body) });
      assert.strictEqual((await next()).payload.body.length, size);
    }
    call.end();
    assert.strictEqual(await next(), null);
  },
  async empty_stream(client) {
    const call = client.FullDuplexCall();
    const next = reader(call);
    call.end();
    assert.strictEqual(await next(), null);
  },
  async cancel_after_begin(client) {
    const done = new Promise((resolve, reject) => {
      const call = client.StreamingInputCall((err, r) => (err ? reject(err) : resolve(r)));
      call.cancel();
    });
    await expectCode(done, grpc.status.CANCELLED);
  },
  async cancel_after_first_response(client) {
    const call = client.FullDuplexCall();
    const next = reader(call);
    call.write({ response_parameters: [{ size: 31415 }], payload: zeros(27182) });
    assert.strictEqual((await next()).payload.body.length, 31415);
    call.cancel();
    await expectCode(next(), grpc.status.CANCELLED);
  },
  async timeout_on_sleeping_server(client) {
    const call = client.FullDuplexCall(new grpc.Metadata(), { deadline: Date.now() + 1 });
    const next = reader(call);
    call.write({ payload: zeros(27182) });
    await expectCode(next(), grpc.status.DEADLINE_EXCEEDED);
  },
  async custom_metadata(client) {
    const md = new grpc.Metadata();
    md.set("x-grpc-test-echo-initial", "test_initial_metadata_value");
    md.set("x-grpc-test-echo-trailing-bin", Buffer.from([0xab, 0xab, 0xab]));
    const check = (initial, trailing) => {
      assert.deepStrictEqual(initial.get("x-grpc-test-echo-initial"), ["test_initial_metadata_value"]);
      assert.deepStrictEqual(trailing.get("x-grpc-test-echo-trailing-bin"), [Buffer.from([0xab, 0xab, 0xab])]);
    };
    await new Promise((resolve, reject) => {
      let initial;
      const call = client.UnaryCall(largeRequest(), md, (err) => err && reject(err));
      call.on("metadata", (m) => (initial = m));
      call.on("status", (s) => {
        try {
          check(initial, s.metadata);
          resolve();
        } catch (e) {
          reject(e);
        }
      });
    });
    await new Promise((resolve, reject) => {
      let initial;
      const call = client.FullDuplexCall(md);
      call.on("metadata", (m) => (initial = m));
      call.on("data", () => {});
      call.on("error", reject);
      call.on("status", (s) => {
        try {
          check(initial, s.metadata);
          resolve();
        } catch (e) {
          reject(e);
        }
      });
      call.write({ response_parameters: [{ size: 314159 }], payload: zeros(271828) });
      call.end();
    });
  },
  async status_code_and_message(client) {
    await statusWith(client, "test status message", true);
  },
  async special_status_message(client) {
    await statusWith(client, "\t\ntest with whitespace\r\nand Unicode BMP \u263a and non-BMP \u{1f608}\t\n", false);
  },
  async unimplemented_method(client) {
    await expectCode(unary(client, "UnimplementedCall", {}), grpc.status.UNIMPLEMENTED);
  },
  async unimplemented_service(client, target, security) {
    const other = new testing.UnimplementedService(target, security.credentials, security.options);
    await expectCode(unary(other, "UnimplementedCall", {}), grpc.status.UNIMPLEMENTED);
  },
};

async function statusWith(client, message, duplex) {
  const status = { code: 2, message };
  await expectCode(unary(client, "UnaryCall", { response_status: status }), grpc.status.UNKNOWN, message);
  if (!duplex) return;
  const call = client.FullDuplexCall();
  const next = reader(call);
  call.write({ response_status: status });
  call.end();
  await expectCode(next(), grpc.status.UNKNOWN, message);
}

async function main() {
  const args = flags(process.argv.slice(2));
  const security = clientSecurity(args);
  const test = args.test_case || "large_unary";
  if (!CASES.includes(test)) throw new Error(`unsupported test case: ${test}`);
  const target = `${args.server_host || "127.0.0.1"}:${args.server_port}`;
  const client = new testing.TestService(target, security.credentials, security.options);
  await cases[test](client, target, security);
  console.log(`${test}: passed`);
  process.exit(0);
}

main().catch((err) => {
  console.error(`FAILED: ${err && err.stack ? err.stack : err}`);
  process.exit(1);
});
