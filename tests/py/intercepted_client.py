"""grpcio calling a Tern server that has interceptors: prints, per case, one JSON line with the
status code, the reply fields the probe sends back, and the initial and trailing metadata grpcio
received, so the Rust test can check what the interceptors did on the wire.

Usage: intercepted_client.py --target HOST:PORT
"""
import argparse
import json
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


def read_varint(data, i):
    shift = value = 0
    while True:
        b = data[i]
        i += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return value, i


def string_fields(data):
    """The length-delimited fields of a message, by number, decoded as UTF-8."""
    fields, i = {}, 0
    while i < len(data):
        key, i = read_varint(data, i)
        number, wire = key >> 3, key & 7
        if wire == 2:
            length, i = read_varint(data, i)
            fields.setdefault(number, data[i : i + length].decode("utf-8", "replace"))
            i += length
        elif wire == 0:
            _, i = read_varint(data, i)
        else:
            raise ValueError(f"unexpected wire type {wire}")
    return fields


def echo_request(message):
    raw = message.encode()
    return b"\x0a" + varint(len(raw)) + raw


def count_request(n):
    return b"\x08" + varint(n)


def metadata(pairs):
    return {k: v for k, v in (pairs or ()) if not k.endswith("-bin")}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--target", required=True)
    args = parser.parse_args()
    tenant = (("x-tenant", "acme"), ("x-probe", "sent by grpcio"))
    with grpc.insecure_channel(args.target) as channel:
        echo = channel.unary_unary("/tern.probe.Probe/Echo")
        count = channel.unary_stream("/tern.probe.Probe/Count")
        for case, md in (("echo_without_tenant", ()), ("echo_with_tenant", tenant)):
            out = {"case": case}
            try:
                reply, call = echo.with_call(echo_request("hi"), metadata=md, timeout=10)
                fields = string_fields(reply)
                out.update(code="OK", message=fields.get(1, ""), probe_header=fields.get(3, ""))
            except grpc.RpcError as e:
                call = e
                out.update(code=e.code().name, details=e.details())
            out["initial"] = metadata(call.initial_metadata())
            out["trailing"] = metadata(call.trailing_metadata())
            print(json.dumps(out))
        replies = count(count_request(3), metadata=tenant, timeout=10)
        messages = [string_fields(r).get(1, "") for r in replies]
        print(json.dumps({
            "case": "count_with_tenant",
            "code": replies.code().name,
            "messages": messages,
            "initial": metadata(replies.initial_metadata()),
            "trailing": metadata(replies.trailing_metadata()),
        }))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
