"""An OTLP/gRPC metrics receiver: grpcio serving opentelemetry.proto.collector.metrics.v1
.MetricsService with the OpenTelemetry project's own generated code (the opentelemetry-proto
package), on a free loopback port. Prints "listening on PORT", then one JSON line per export
received (the request as protobuf's JSON mapping), until stdin closes.

Usage: otlp_receiver.py
"""
import json
import sys
from concurrent import futures

import grpc
from google.protobuf import json_format
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2_grpc


class Receiver(metrics_service_pb2_grpc.MetricsServiceServicer):
    def Export(self, request, context):
        print(json.dumps(json_format.MessageToDict(request)), flush=True)
        return metrics_service_pb2.ExportMetricsServiceResponse()


def main():
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(Receiver(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(f"listening on {port}", flush=True)
    sys.stdin.read()
    server.stop(grace=1)


if __name__ == "__main__":
    main()
