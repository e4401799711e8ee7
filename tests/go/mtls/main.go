// grpc-go's interop TestService and test cases over mutual TLS, which grpc-go's own interop
// programs cannot do (they take no client certificate):
//
//	mtls -mode=server -port=0 -cert=F -key=F -ca=F   prints "listening on HOST:PORT"
//	mtls -mode=client -port=P -cert=F -key=F -ca=F -server_name=NAME [-test_cases=a,b]
//
// The server requires a client certificate issued by -ca; the client presents -cert (none with
// -no_client_cert, to check that the other side refuses it) and trusts -ca.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/interop"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
)

var (
	mode         = flag.String("mode", "", "server or client")
	port         = flag.Int("port", 0, "port to listen on (server) or call (client)")
	certFile     = flag.String("cert", "", "certificate chain (PEM)")
	keyFile      = flag.String("key", "", "private key (PEM)")
	caFile       = flag.String("ca", "", "CA certificate (PEM) the other side's certificate must chain to")
	serverName   = flag.String("server_name", "localhost", "client: the name the server's certificate must have")
	noClientCert = flag.Bool("no_client_cert", false, "client: present no certificate, and expect the call to fail")
	testCases    = flag.String("test_cases", "empty_unary,large_unary,client_streaming,server_streaming,ping_pong,"+
		"empty_stream,cancel_after_begin,cancel_after_first_response,timeout_on_sleeping_server,custom_metadata,"+
		"status_code_and_message,special_status_message", "client: comma-separated interop cases")
)

func pool() *x509.CertPool {
	pem, err := os.ReadFile(*caFile)
	if err != nil {
		log.Fatalf("reading -ca: %v", err)
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(pem) {
		log.Fatalf("no certificate in %s", *caFile)
	}
	return p
}

func pair() tls.Certificate {
	c, err := tls.LoadX509KeyPair(*certFile, *keyFile)
	if err != nil {
		log.Fatalf("loading -cert and -key: %v", err)
	}
	return c
}

func serve() {
	config := &tls.Config{
		Certificates: []tls.Certificate{pair()},
		ClientCAs:    pool(),
		ClientAuth:   tls.RequireAndVerifyClientCert,
	}
	lis, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", *port))
	if err != nil {
		log.Fatal(err)
	}
	server := grpc.NewServer(grpc.Creds(credentials.NewTLS(config)))
	testgrpc.RegisterTestServiceServer(server, interop.NewTestServer())
	fmt.Printf("listening on %s\n", lis.Addr())
	if err := server.Serve(lis); err != nil {
		log.Fatal(err)
	}
}

func call() {
	config := &tls.Config{RootCAs: pool(), ServerName: *serverName}
	if !*noClientCert {
		config.Certificates = []tls.Certificate{pair()}
	}
	conn, err := grpc.NewClient(fmt.Sprintf("127.0.0.1:%d", *port),
		grpc.WithTransportCredentials(credentials.NewTLS(config)))
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	tc := testgrpc.NewTestServiceClient(conn)
	ctx := context.Background()
	if *noClientCert {
		short, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		_, err := tc.EmptyCall(short, &testgrpc.Empty{})
		if err == nil {
			log.Fatal("the server accepted a call without a client certificate")
		}
		fmt.Printf("refused without a client certificate: %v\n", err)
		return
	}
	cases := map[string]func(){
		"empty_unary":                 func() { interop.DoEmptyUnaryCall(ctx, tc) },
		"large_unary":                 func() { interop.DoLargeUnaryCall(ctx, tc) },
		"client_streaming":            func() { interop.DoClientStreaming(ctx, tc) },
		"server_streaming":            func() { interop.DoServerStreaming(ctx, tc) },
		"ping_pong":                   func() { interop.DoPingPong(ctx, tc) },
		"empty_stream":                func() { interop.DoEmptyStream(ctx, tc) },
		"cancel_after_begin":          func() { interop.DoCancelAfterBegin(ctx, tc) },
		"cancel_after_first_response": func() { interop.DoCancelAfterFirstResponse(ctx, tc) },
		"timeout_on_sleeping_server":  func() { interop.DoTimeoutOnSleepingServer(ctx, tc) },
		"custom_metadata":             func() { interop.DoCustomMetadata(ctx, tc) },
		"status_code_and_message":     func() { interop.DoStatusCodeAndMessage(ctx, tc) },
		"special_status_message":      func() { interop.DoSpecialStatusMessage(ctx, tc) },
	}
	for _, name := range strings.Split(*testCases, ",") {
		run, ok := cases[name]
		if !ok {
			log.Fatalf("unknown test case %q", name)
		}
		run() // The interop functions exit non-zero on failure.
		fmt.Printf("%s: passed\n", name)
	}
}

func main() {
	flag.Parse()
	switch *mode {
	case "server":
		serve()
	case "client":
		call()
	default:
		log.Fatal("-mode must be server or client")
	}
}
