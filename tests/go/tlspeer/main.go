// What Tern's TLS interop runs need from grpc-go that grpc-go's own interop programs lack:
//
//	tlspeer -mode=server -port=0 -cert=F -key=F -ca=F   prints "listening on HOST:PORT"
//	tlspeer -mode=client -port=P -cert=F -key=F -ca=F -server_name=NAME [-test_cases=a,b]
//	tlspeer -mode=service-account -out=F -token_uri=URL
//	tlspeer -mode=token-server -port=0                   prints "listening on HOST:PORT"
//
// server and client run grpc-go's interop TestService and cases over mutual TLS: the server
// requires a client certificate issued by -ca; the client presents -cert (none with
// -no_client_cert, to check that the other side refuses it) and trusts -ca.
//
// service-account writes a Google-style service account key file with a fresh RSA key, whose
// token_uri is a local token-server: the interop auth cases (jwt_token_creds, oauth2_auth_token,
// per_rpc_creds, service_account_creds) then run with no Google server. The token server checks
// the JWT assertion's signature against the key's public half (-key_file) and answers with an
// access token that is itself a JWT naming the account and the scope, which Tern's interop server
// reads back into the response's username and oauth_scope.
package main

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
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
	out          = flag.String("out", "", "service-account: the key file to write")
	tokenURI     = flag.String("token_uri", "", "service-account: the token endpoint")
	keyFileFlag  = flag.String("key_file", "", "token-server: the service account key file whose assertions it accepts")
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

// serviceAccount is the part of a Google service account key file the auth cases read.
type serviceAccount struct {
	Type         string `json:"type"`
	ProjectID    string `json:"project_id"`
	PrivateKeyID string `json:"private_key_id"`
	PrivateKey   string `json:"private_key"`
	ClientEmail  string `json:"client_email"`
	ClientID     string `json:"client_id"`
	TokenURI     string `json:"token_uri"`
}

func writeServiceAccount() {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		log.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		log.Fatal(err)
	}
	account := serviceAccount{
		Type:         "service_account",
		ProjectID:    "tern-interop",
		PrivateKeyID: "tern-interop-key-1",
		PrivateKey:   string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		ClientEmail:  "interop@tern-interop.iam.gserviceaccount.com",
		ClientID:     "100000000000000000001",
		TokenURI:     *tokenURI,
	}
	text, err := json.MarshalIndent(account, "", "  ")
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(*out, text, 0o600); err != nil {
		log.Fatal(err)
	}
}

// verifiedClaims checks an RS256 JWT against key and returns its claims.
func verifiedClaims(jwt string, key *rsa.PublicKey) (map[string]any, error) {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("not a JWT")
	}
	signature, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return nil, err
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(key, crypto.SHA256, digest[:], signature); err != nil {
		return nil, fmt.Errorf("bad signature: %v", err)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, err
	}
	claims := map[string]any{}
	return claims, json.Unmarshal(payload, &claims)
}

// unsignedJWT is an access token that says whom and what it is for; the server under test
// reads it back, as Google's servers know a token's account and scope.
func unsignedJWT(claims map[string]any) string {
	header := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
	body, _ := json.Marshal(claims)
	return header + "." + base64.RawURLEncoding.EncodeToString(body) + "."
}

func tokenServer() {
	text, err := os.ReadFile(*keyFileFlag)
	if err != nil {
		log.Fatal(err)
	}
	var account serviceAccount
	if err := json.Unmarshal(text, &account); err != nil {
		log.Fatal(err)
	}
	block, _ := pem.Decode([]byte(account.PrivateKey))
	if block == nil {
		log.Fatal("no PEM key in the key file")
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		log.Fatal(err)
	}
	public := &parsed.(*rsa.PrivateKey).PublicKey
	http.HandleFunc("/token", func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if r.Form.Get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
			http.Error(w, `{"error":"unsupported_grant_type"}`, http.StatusBadRequest)
			return
		}
		claims, err := verifiedClaims(r.Form.Get("assertion"), public)
		if err != nil || claims["iss"] != account.ClientEmail {
			log.Printf("refused an assertion: %v %v", err, claims)
			http.Error(w, `{"error":"invalid_grant"}`, http.StatusBadRequest)
			return
		}
		token := unsignedJWT(map[string]any{"email": claims["iss"], "scope": claims["scope"]})
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{
			"access_token": token, "token_type": "Bearer", "expires_in": 3600,
		})
	})
	lis, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", *port))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("listening on %s\n", lis.Addr())
	log.Fatal(http.Serve(lis, nil))
}

func main() {
	flag.Parse()
	switch *mode {
	case "server":
		serve()
	case "client":
		call()
	case "service-account":
		writeServiceAccount()
	case "token-server":
		tokenServer()
	default:
		log.Fatal("-mode must be server, client, service-account or token-server")
	}
}
