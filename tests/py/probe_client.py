"""Drives the probe service with grpcio, the way a Python user would call a Tern server.

Usage: probe_client.py --target HOST:PORT CASE...
Prints one line per case: CASE<TAB>STATUS_CODE_NAME<TAB>DETAILS (or the reply for OK).
Requests are encoded by hand (a few protobuf fields), so no generated stubs are needed.
"""
import argparse
import sys

import grpc


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


def field_bytes(number, value):
    return varint(number << 3 | 2) + varint(len(value)) + value


def field_varint(number, value):
    return varint(number << 3) + varint(value)


def echo_request(message="", fail_code=0, fail_message="", panic=False, payload=b""):
    out = b""
    if message:
        out += field_bytes(1, message.encode())
    if fail_code:
        out += field_varint(2, fail_code)
    if fail_message:
        out += field_bytes(3, fail_message.encode())
    if panic:
        out += field_varint(4, 1)
    if payload:
        out += field_bytes(6, payload)
    return out


def reply_message(data):
    """The string in field 1 of an EchoReply."""
    if data[:1] == b"\x0a":
        # One-byte length suffices for the short replies the cases check.
        return data[2 : 2 + data[1]].decode()
    return ""


CASES = {
    "echo": ("/tern.probe.Probe/Echo", echo_request(message="ping")),
    "unknown_method": ("/tern.probe.Probe/NoSuchMethod", b""),
    "unknown_service": ("/tern.probe.NoSuchService/Echo", b""),
    "not_found_unicode": (
        "/tern.probe.Probe/Echo",
        echo_request(fail_code=5, fail_message="introuvable: caf\u00e9 \u263a 100%"),
    ),
    "panic": ("/tern.probe.Probe/Echo", echo_request(panic=True)),
    "oversized": ("/tern.probe.Probe/Echo", echo_request(payload=b"x" * (2 * 1024 * 1024))),
    "invalid_message": ("/tern.probe.Probe/Echo", b"\xff\xff\xff"),
}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--target", required=True)
    parser.add_argument("cases", nargs="+")
    args = parser.parse_args()
    options = [("grpc.max_send_message_length", 64 * 1024 * 1024)]
    with grpc.insecure_channel(args.target, options=options) as channel:
        for case in args.cases:
            path, request = CASES[case]
            call = channel.unary_unary(path)
            try:
                reply = call(request, timeout=10)
                print(f"{case}\tOK\t{reply_message(reply)}")
            except grpc.RpcError as e:
                print(f"{case}\t{e.code().name}\t{e.details()}")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
