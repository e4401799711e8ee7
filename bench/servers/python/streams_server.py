"""tern.bench.Streams on grpcio, for the side-by-side benchmark: `streams_server.py HOST:PORT`.
bench/run.py generates streams_pb2*.py next to it with grpc_tools (git-ignored)."""
import sys
from concurrent import futures

import grpc

import streams_pb2
import streams_pb2_grpc


class Streams(streams_pb2_grpc.StreamsServicer):
    def Download(self, request, context):
        chunk = streams_pb2.Chunk(data=bytes(request.size))
        for _ in range(request.count):
            yield chunk

    def Echo(self, request_iterator, context):
        for chunk in request_iterator:
            yield chunk


def main():
    addr = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:50051"
    # As the tutorial's server: a pool of four threads; each stream holds one.
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    streams_pb2_grpc.add_StreamsServicer_to_server(Streams(), server)
    server.add_insecure_port(addr)
    server.start()
    server.wait_for_termination()


if __name__ == "__main__":
    main()
