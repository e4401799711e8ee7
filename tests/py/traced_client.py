"""A grpcio client that starts a trace: it makes up a W3C trace context (random trace and span
ids, sampled), as an OpenTelemetry-instrumented client does, sends it in `traceparent` with a
call to the probe's Echo, and prints the traceparent it sent.

Usage: traced_client.py --target HOST:PORT
"""
import argparse
import secrets

import grpc


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--target", required=True)
    args = parser.parse_args()
    traceparent = f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01"
    with grpc.insecure_channel(args.target) as channel:
        echo = channel.unary_unary("/tern.probe.Probe/Echo")
        # EchoRequest{message: "traced"}
        echo(b"\x0a\x06traced", metadata=(("traceparent", traceparent),), timeout=10)
    print(traceparent, flush=True)


if __name__ == "__main__":
    main()
