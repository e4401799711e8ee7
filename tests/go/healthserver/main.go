// A grpc-go server with grpc-go's own health and reflection services, for testing that the
// tern command line reads them: `healthserver ADDR` prints "listening on HOST:PORT".
package main

import (
	"fmt"
	"log"
	"net"
	"os"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
)

func main() {
	addr := "127.0.0.1:0"
	if len(os.Args) > 1 {
		addr = os.Args[1]
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		log.Fatal(err)
	}
	server := grpc.NewServer()
	checker := health.NewServer()
	checker.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	checker.SetServingStatus("down.Service", healthpb.HealthCheckResponse_NOT_SERVING)
	healthpb.RegisterHealthServer(server, checker)
	reflection.Register(server)
	fmt.Printf("listening on %s\n", lis.Addr())
	log.Fatal(server.Serve(lis))
}
