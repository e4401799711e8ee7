// grpc-go's channelz client (google.golang.org/grpc/channelz/grpc_channelz_v1) asking a server
// for its channelz view, for tests/tests/channelz.rs: `channelzclient ADDR` pages through
// GetServers, GetServerSockets (one result a page, so every page boundary is crossed) and
// GetTopChannels, fetches each socket with GetSocket, and prints it all as one JSON object:
// {"servers": [{"server": Server, "sockets": [Socket...]}], "channels": [Channel...]}, each
// message in protojson with the proto field names. A server or socket that ends between being
// listed and being fetched (NOT_FOUND) is skipped, as entities come and go while it pages.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"os"
	"time"

	"google.golang.org/grpc"
	channelzpb "google.golang.org/grpc/channelz/grpc_channelz_v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

type serverView struct {
	Server  json.RawMessage   `json:"server"`
	Sockets []json.RawMessage `json:"sockets"`
}

type view struct {
	Servers  []serverView      `json:"servers"`
	Channels []json.RawMessage `json:"channels"`
}

func marshal(m proto.Message) json.RawMessage {
	out, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(m)
	if err != nil {
		log.Fatal(err)
	}
	return out
}

func main() {
	if len(os.Args) != 2 {
		log.Fatal("usage: channelzclient ADDR")
	}
	conn, err := grpc.NewClient(os.Args[1], grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	client := channelzpb.NewChannelzClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	out := view{Servers: []serverView{}, Channels: []json.RawMessage{}}
	for start := int64(0); ; {
		page, err := client.GetServers(ctx, &channelzpb.GetServersRequest{StartServerId: start, MaxResults: 1})
		if err != nil {
			log.Fatalf("GetServers: %v", err)
		}
		for _, server := range page.Server {
			id := server.Ref.ServerId
			sv := serverView{Server: marshal(server), Sockets: []json.RawMessage{}}
			for from := int64(0); ; {
				sockets, err := client.GetServerSockets(ctx, &channelzpb.GetServerSocketsRequest{
					ServerId: id, StartSocketId: from, MaxResults: 1,
				})
				if status.Code(err) == codes.NotFound {
					break // the server stopped since it was listed
				}
				if err != nil {
					log.Fatalf("GetServerSockets(%d): %v", id, err)
				}
				for _, ref := range sockets.SocketRef {
					socket, err := client.GetSocket(ctx, &channelzpb.GetSocketRequest{SocketId: ref.SocketId})
					from = ref.SocketId + 1
					if status.Code(err) == codes.NotFound {
						continue // the connection closed since it was listed
					}
					if err != nil {
						log.Fatalf("GetSocket(%d): %v", ref.SocketId, err)
					}
					sv.Sockets = append(sv.Sockets, marshal(socket.Socket))
				}
				if sockets.End || len(sockets.SocketRef) == 0 {
					break
				}
			}
			out.Servers = append(out.Servers, sv)
			start = id + 1
		}
		if page.End || len(page.Server) == 0 {
			break
		}
	}
	for start := int64(0); ; {
		page, err := client.GetTopChannels(ctx, &channelzpb.GetTopChannelsRequest{StartChannelId: start, MaxResults: 1})
		if err != nil {
			log.Fatalf("GetTopChannels: %v", err)
		}
		for _, channel := range page.Channel {
			out.Channels = append(out.Channels, marshal(channel))
			start = channel.Ref.ChannelId + 1
		}
		if page.End || len(page.Channel) == 0 {
			break
		}
	}
	text, err := json.Marshal(out)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(text))
}
