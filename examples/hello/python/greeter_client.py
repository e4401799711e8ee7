"""The tutorial's Hello client, in Python with grpcio: calls SayHello and prints the reply."""
import argparse
import sys

import grpc

import hello_pb2
import hello_pb2_grpc


def run(target):
    with grpc.insecure_channel(target) as channel:
        stub = hello_pb2_grpc.HelloStub(channel)
        try:
            response = stub.SayHello(hello_pb2.HelloRequest(name="world", age=18))
        except grpc.RpcError as e:
            print(f"error: {e.code().name}: {e.details()}", file=sys.stderr)
            sys.exit(1)
    print(response.message)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--target", default="127.0.0.1:5000", help="HOST:PORT of the server")
    run(parser.parse_args().target)
