"""grpcio-status on the other side of Tern's rich errors (google.rpc error details).

  rich_errors.py client --target HOST:PORT --code N --message M --details-hex HEX
      Calls tern.probe.Probe/Echo asking the server to fail with that code, message and
      grpc-status-details-bin, reads the error with grpc_status.rpc_status.from_call and prints
      it as JSON: {"code", "message", "details": [{"type": name, "value": {...}}]}.
  rich_errors.py server
      Serves tern.probe.Probe/Echo failing INVALID_ARGUMENT with every standard detail (the
      values below), built with grpc_status.rpc_status.to_status; prints "listening on PORT",
      serves until stdin closes.
"""
import argparse
import json
import sys
from concurrent import futures

import grpc
from google.protobuf import any_pb2, duration_pb2, json_format
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

ECHO = "/tern.probe.Probe/Echo"

STANDARD = {
    cls.DESCRIPTOR.full_name: cls
    for cls in (
        error_details_pb2.ErrorInfo,
        error_details_pb2.RetryInfo,
        error_details_pb2.DebugInfo,
        error_details_pb2.QuotaFailure,
        error_details_pb2.PreconditionFailure,
        error_details_pb2.BadRequest,
        error_details_pb2.RequestInfo,
        error_details_pb2.ResourceInfo,
        error_details_pb2.Help,
        error_details_pb2.LocalizedMessage,
    )
}


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def echo_request(code, message, details):
    """tern.probe.EchoRequest{fail_code=2, fail_message=3, fail_details=7}, encoded by hand."""
    out = varint(2 << 3) + varint(code)
    out += varint(3 << 3 | 2) + varint(len(message.encode())) + message.encode()
    out += varint(7 << 3 | 2) + varint(len(details)) + details
    return out


def client(args):
    channel = grpc.insecure_channel(args.target)
    call = channel.unary_unary(ECHO)
    request = echo_request(args.code, args.message, bytes.fromhex(args.details_hex))
    try:
        call(request, timeout=10)
    except grpc.RpcError as error:
        status = rpc_status.from_call(error)
        if status is None:
            print("no google.rpc.Status in the trailers", file=sys.stderr)
            return 1
        details = []
        for any_detail in status.details:
            name = any_detail.TypeName()
            cls = STANDARD.get(name)
            if cls is None:
                details.append({"type": name, "value": any_detail.value.hex()})
                continue
            detail = cls()
            if not any_detail.Unpack(detail):
                print(f"cannot unpack {name}", file=sys.stderr)
                return 1
            details.append({"type": name, "value": json_format.MessageToDict(detail)})
        print(json.dumps({"code": status.code, "message": status.message, "details": details}))
        return 0
    print("the call succeeded; it was asked to fail", file=sys.stderr)
    return 1


def every_detail():
    def pack(message):
        packed = any_pb2.Any()
        packed.Pack(message)
        return packed

    e = error_details_pb2
    return [
        pack(e.ErrorInfo(reason="API_DISABLED", domain="hello.example.com",
                         metadata={"service": "hello"})),
        pack(e.RetryInfo(retry_delay=duration_pb2.Duration(seconds=1, nanos=500_000_000))),
        pack(e.DebugInfo(stack_entries=["main.py:1", "server.py:2"], detail="stack")),
        pack(e.QuotaFailure(violations=[
            e.QuotaFailure.Violation(subject="project:p", description="daily limit")])),
        pack(e.PreconditionFailure(violations=[
            e.PreconditionFailure.Violation(type="TOS", subject="example.com",
                                            description="terms not accepted")])),
        pack(e.BadRequest(field_violations=[
            e.BadRequest.FieldViolation(field="name", description="must not be empty"),
            e.BadRequest.FieldViolation(field="age", description="must be at most 150")])),
        pack(e.RequestInfo(request_id="req-1", serving_data="shard 7")),
        pack(e.ResourceInfo(resource_type="user", resource_name="ada", owner="admin",
                            description="not found")),
        pack(e.Help(links=[e.Help.Link(description="docs", url="https://example.com/docs")])),
        pack(e.LocalizedMessage(locale="fr-CH", message="nom manquant")),
    ]


def server(_args):
    def echo(_request, context):
        context.abort_with_status(rpc_status.to_status(status_pb2.Status(
            code=code_pb2.INVALID_ARGUMENT,
            message="the request has 2 invalid fields",
            details=every_detail(),
        )))

    handler = grpc.method_handlers_generic_handler(
        "tern.probe.Probe", {"Echo": grpc.unary_unary_rpc_method_handler(echo)})
    grpc_server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    grpc_server.add_generic_rpc_handlers((handler,))
    port = grpc_server.add_insecure_port("127.0.0.1:0")
    grpc_server.start()
    print(f"listening on {port}", flush=True)
    sys.stdin.read()
    grpc_server.stop(0)
    return 0


def main():
    parser = argparse.ArgumentParser()
    modes = parser.add_subparsers(dest="mode", required=True)
    c = modes.add_parser("client")
    c.add_argument("--target", required=True)
    c.add_argument("--code", type=int, required=True)
    c.add_argument("--message", required=True)
    c.add_argument("--details-hex", required=True)
    modes.add_parser("server")
    args = parser.parse_args()
    return client(args) if args.mode == "client" else server(args)


if __name__ == "__main__":
    sys.exit(main())
