"""A grpcio (Python, gRPC C-core) interop TestService server, written from the gRPC interop test
descriptions. grpcio's API cannot see whether a request arrived compressed or compress single
messages, so the compression cases are not served.

Usage: interop_server.py --port=PORT [--use_tls=false]
"""
import argparse
import sys
import time
from concurrent import futures

import grpc

import empty_pb2
import messages_pb2
import test_pb2_grpc

ECHO_INITIAL = "x-grpc-test-echo-initial"
ECHO_TRAILING = "x-grpc-test-echo-trailing-bin"


def echo_metadata(context):
    md = dict(context.invocation_metadata())
    if ECHO_INITIAL in md:
        context.send_initial_metadata(((ECHO_INITIAL, md[ECHO_INITIAL]),))
    if ECHO_TRAILING in md:
        context.set_trailing_metadata(((ECHO_TRAILING, md[ECHO_TRAILING]),))


def abort_if_asked(status, context):
    if status is not None and status.code != 0:
        context.abort(grpc.StatusCode(_code(status.code)), status.message)


def _code(number):
    for code in grpc.StatusCode:
        if code.value[0] == number:
            return code.value
    return grpc.StatusCode.UNKNOWN.value


def payload(size):
    return messages_pb2.Payload(body=b"\0" * size)


class TestService(test_pb2_grpc.TestServiceServicer):
    def EmptyCall(self, request, context):
        return empty_pb2.Empty()

    def UnaryCall(self, request, context):
        echo_metadata(context)
        if request.HasField("response_status"):
            abort_if_asked(request.response_status, context)
        return messages_pb2.SimpleResponse(payload=payload(request.response_size))

    def StreamingOutputCall(self, request, context):
        for p in request.response_parameters:
            if p.interval_us:
                time.sleep(p.interval_us / 1e6)
            yield messages_pb2.StreamingOutputCallResponse(payload=payload(p.size))

    def StreamingInputCall(self, request_iterator, context):
        total = sum(len(r.payload.body) for r in request_iterator)
        return messages_pb2.StreamingInputCallResponse(aggregated_payload_size=total)

    def FullDuplexCall(self, request_iterator, context):
        echo_metadata(context)
        for request in request_iterator:
            if request.HasField("response_status"):
                abort_if_asked(request.response_status, context)
            for p in request.response_parameters:
                if p.interval_us:
                    time.sleep(p.interval_us / 1e6)
                yield messages_pb2.StreamingOutputCallResponse(payload=payload(p.size))

    def HalfDuplexCall(self, request_iterator, context):
        requests = list(request_iterator)
        for request in requests:
            for p in request.response_parameters:
                yield messages_pb2.StreamingOutputCallResponse(payload=payload(p.size))


def read(path):
    with open(path, "rb") as f:
        return f.read()


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--use_tls", default="false", choices=["true", "false"])
    parser.add_argument("--tls_cert_file", help="server certificate chain (PEM)")
    parser.add_argument("--tls_key_file", help="server key (PEM)")
    parser.add_argument("--client_ca_file", help="require client certificates from this CA")
    args = parser.parse_args()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    test_pb2_grpc.add_TestServiceServicer_to_server(TestService(), server)
    address = f"127.0.0.1:{args.port}"
    if args.use_tls == "true":
        if not (args.tls_cert_file and args.tls_key_file):
            sys.exit("--use_tls=true needs --tls_cert_file and --tls_key_file")
        pair = [(read(args.tls_key_file), read(args.tls_cert_file))]
        ca = read(args.client_ca_file) if args.client_ca_file else None
        credentials = grpc.ssl_server_credentials(pair, root_certificates=ca,
                                                  require_client_auth=ca is not None)
        port = server.add_secure_port(address, credentials)
    else:
        port = server.add_insecure_port(address)
    server.start()
    print(f"listening on 127.0.0.1:{port}", flush=True)
    server.wait_for_termination()


if __name__ == "__main__":
    main()
