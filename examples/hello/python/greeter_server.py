"""The tutorial's Hello server, in Python with grpcio: answers `hello {name} {age}`."""
import argparse
from concurrent import futures

import grpc

import hello_pb2
import hello_pb2_grpc


class Greeter(hello_pb2_grpc.HelloServicer):
    def SayHello(self, request, context):
        return hello_pb2.HelloReply(message=f"hello {request.name} {request.age}")


def serve(addr):
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    hello_pb2_grpc.add_HelloServicer_to_server(Greeter(), server)
    port = server.add_insecure_port(addr)
    server.start()
    host = addr.rsplit(":", 1)[0]
    print(f"listening on {host}:{port}", flush=True)
    server.wait_for_termination()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--addr", default="0.0.0.0:5000", help="HOST:PORT; port 0 picks a free one")
    serve(parser.parse_args().addr)
