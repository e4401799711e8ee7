"""A grpcio (Python, gRPC C-core) interop test client, written from the gRPC interop test
descriptions, for the cases grpcio's public API can express.

Usage: interop_client.py --server_host=HOST --server_port=PORT --test_case=CASE [--use_tls=false]
Exits non-zero, saying why, when the case fails.
"""
import argparse
import sys
import time

import grpc

import empty_pb2
import messages_pb2
import test_pb2_grpc

CASES = [
    "empty_unary",
    "large_unary",
    "client_compressed_unary",
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
]


class CaseFailed(Exception):
    pass


def check(ok, why):
    if not ok:
        raise CaseFailed(why)


def zeros(size):
    return messages_pb2.Payload(body=b"\0" * size)


def large_request(**fields):
    return messages_pb2.SimpleRequest(response_size=314159, payload=zeros(271828), **fields)


def expect_code(call, code, message=None):
    try:
        call()
    except grpc.RpcError as e:
        check(e.code() == code, f"expected {code.name}, got {e.code().name}: {e.details()}")
        if message is not None:
            check(e.details() == message, f"expected message {message!r}, got {e.details()!r}")
        return
    raise CaseFailed(f"expected {code.name}, the call succeeded")


def empty_unary(stub, channel):
    reply = stub.EmptyCall(empty_pb2.Empty())
    check(reply == empty_pb2.Empty(), "reply is not empty")


def large_unary(stub, channel):
    reply = stub.UnaryCall(large_request())
    check(len(reply.payload.body) == 314159, f"payload of {len(reply.payload.body)} bytes")


def client_compressed_unary(stub, channel):
    probe = large_request(expect_compressed=messages_pb2.BoolValue(value=True))
    expect_code(lambda: stub.UnaryCall(probe), grpc.StatusCode.INVALID_ARGUMENT)
    for compressed in (True, False):
        request = large_request(expect_compressed=messages_pb2.BoolValue(value=compressed))
        compression = grpc.Compression.Gzip if compressed else grpc.Compression.NoCompression
        reply = stub.UnaryCall(request, compression=compression)
        check(len(reply.payload.body) == 314159, f"payload of {len(reply.payload.body)} bytes")


def client_streaming(stub, channel):
    sizes = [27182, 8, 1828, 45904]
    requests = (messages_pb2.StreamingInputCallRequest(payload=zeros(s)) for s in sizes)
    reply = stub.StreamingInputCall(requests)
    check(reply.aggregated_payload_size == 74922, f"aggregated {reply.aggregated_payload_size}")


def output_request(sizes, payload=0, status=None):
    return messages_pb2.StreamingOutputCallRequest(
        response_parameters=[messages_pb2.ResponseParameters(size=s) for s in sizes],
        payload=zeros(payload) if payload else None,
        response_status=status,
    )


def server_streaming(stub, channel):
    sizes = [31415, 9, 2653, 58979]
    got = [len(r.payload.body) for r in stub.StreamingOutputCall(output_request(sizes))]
    check(got == sizes, f"response sizes {got}, expected {sizes}")


class Pipe:
    """A request iterator fed one message at a time, for the duplex cases."""

    def __init__(self):
        import queue

        self._queue = queue.Queue()

    def send(self, request):
        self._queue.put(request)

    def close(self):
        self._queue.put(None)

    def __iter__(self):
        return self

    def __next__(self):
        item = self._queue.get()
        if item is None:
            raise StopIteration
        return item


def ping_pong(stub, channel):
    pipe = Pipe()
    replies = stub.FullDuplexCall(pipe)
    for size, payload in [(31415, 27182), (9, 8), (2653, 1828), (58979, 45904)]:
        pipe.send(output_request([size], payload))
        reply = next(replies)
        check(len(reply.payload.body) == size, f"response of {len(reply.payload.body)} bytes")
    pipe.close()
    check(next(replies, None) is None, "more responses than requests")


def empty_stream(stub, channel):
    replies = list(stub.FullDuplexCall(iter([])))
    check(replies == [], f"{len(replies)} responses to no request")


def cancel_after_begin(stub, channel):
    pipe = Pipe()
    future = stub.StreamingInputCall.future(pipe)
    future.cancel()
    check(future.cancelled(), "the call was not cancelled")
    pipe.close()


def cancel_after_first_response(stub, channel):
    pipe = Pipe()
    replies = stub.FullDuplexCall(pipe)
    pipe.send(output_request([31415], 27182))
    next(replies)
    replies.cancel()
    expect_code(lambda: next(replies), grpc.StatusCode.CANCELLED)
    pipe.close()


def timeout_on_sleeping_server(stub, channel):
    pipe = Pipe()
    replies = stub.FullDuplexCall(pipe, timeout=0.001)
    pipe.send(output_request([], 27182))
    expect_code(lambda: next(replies), grpc.StatusCode.DEADLINE_EXCEEDED)
    pipe.close()


ECHO = (
    ("x-grpc-test-echo-initial", "test_initial_metadata_value"),
    ("x-grpc-test-echo-trailing-bin", b"\xab\xab\xab"),
)


def check_echo(initial, trailing):
    initial = dict(initial)
    trailing = dict(trailing)
    check(initial.get(ECHO[0][0]) == ECHO[0][1], f"initial metadata {initial}")
    check(trailing.get(ECHO[1][0]) == ECHO[1][1], f"trailing metadata {trailing}")


def custom_metadata(stub, channel):
    _, call = stub.UnaryCall.with_call(large_request(), metadata=ECHO)
    check_echo(call.initial_metadata(), call.trailing_metadata())
    pipe = Pipe()
    replies = stub.FullDuplexCall(pipe, metadata=ECHO)
    pipe.send(output_request([314159], 271828))
    pipe.close()
    for _ in replies:
        pass
    check_echo(replies.initial_metadata(), replies.trailing_metadata())


def status_with(stub, message):
    status = messages_pb2.EchoStatus(code=2, message=message)
    expect_code(
        lambda: stub.UnaryCall(messages_pb2.SimpleRequest(response_status=status)),
        grpc.StatusCode.UNKNOWN,
        message,
    )
    return status


def status_code_and_message(stub, channel):
    status = status_with(stub, "test status message")
    replies = stub.FullDuplexCall(iter([output_request([], status=status)]))
    expect_code(lambda: list(replies), grpc.StatusCode.UNKNOWN, "test status message")


def special_status_message(stub, channel):
    status_with(stub, "\t\ntest with whitespace\r\nand Unicode BMP \u263a and non-BMP \U0001f608\t\n")


def unimplemented_method(stub, channel):
    expect_code(lambda: stub.UnimplementedCall(empty_pb2.Empty()), grpc.StatusCode.UNIMPLEMENTED)


def unimplemented_service(stub, channel):
    other = test_pb2_grpc.UnimplementedServiceStub(channel)
    expect_code(lambda: other.UnimplementedCall(empty_pb2.Empty()), grpc.StatusCode.UNIMPLEMENTED)


def flag_bool(value):
    if value not in ("true", "false"):
        raise argparse.ArgumentTypeError("expected true or false")
    return value == "true"


def read(path):
    with open(path, "rb") as f:
        return f.read()


def open_channel(target, args):
    """A cleartext channel, or with --use_tls one over TLS as grpc-go's flags describe."""
    if not args.use_tls:
        return grpc.insecure_channel(target)
    if args.use_test_ca and not args.ca_file:
        sys.exit("--use_test_ca: no test CA is bundled; give it with --ca_file")
    root = read(args.ca_file) if args.ca_file else None
    key = read(args.client_key_file) if args.client_key_file else None
    chain = read(args.client_cert_file) if args.client_cert_file else None
    credentials = grpc.ssl_channel_credentials(root, key, chain)
    options = []
    if args.server_host_override:
        options.append(("grpc.ssl_target_name_override", args.server_host_override))
        options.append(("grpc.default_authority", args.server_host_override))
    return grpc.secure_channel(target, credentials, options)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--server_host", default="127.0.0.1")
    parser.add_argument("--server_port", type=int, required=True)
    parser.add_argument("--test_case", default="large_unary")
    parser.add_argument("--use_tls", type=flag_bool, default=False)
    parser.add_argument("--use_test_ca", type=flag_bool, default=False,
                        help="trust the CA of --ca_file (no test CA is bundled)")
    parser.add_argument("--ca_file", help="CA certificate (PEM) to trust")
    parser.add_argument("--server_host_override", help="name the server's certificate has")
    parser.add_argument("--client_cert_file", help="client certificate chain (PEM): mutual TLS")
    parser.add_argument("--client_key_file", help="key of --client_cert_file (PEM)")
    args = parser.parse_args()
    if args.test_case not in CASES:
        sys.exit(f"unsupported test case: {args.test_case}")
    target = f"{args.server_host}:{args.server_port}"
    with open_channel(target, args) as channel:
        stub = test_pb2_grpc.TestServiceStub(channel)
        try:
            globals()[args.test_case](stub, channel)
        except (CaseFailed, grpc.RpcError, StopIteration) as e:
            sys.exit(f"{args.test_case}: FAILED: {e!r}")
    print(f"{args.test_case}: passed")


if __name__ == "__main__":
    main()
