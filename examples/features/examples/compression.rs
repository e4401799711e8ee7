//! Compression: a client that compresses its requests with gzip and a server that compresses its
//! replies, negotiated with `grpc-encoding` / `grpc-accept-encoding`; the handler can tell a
//! compressed message from a plain one, and a single call can choose its own encoding.
//!
//! `cargo run -p tern-features --example compression`

use hello::hello::hello_client::HelloClient;
use hello::hello::hello_server::{Hello, HelloServer};
use hello::hello::{HelloReply, HelloRequest};
use tern::{CompressionEncoding, Request, Response, Status};
use tern_features::{expect, serve_in_background};

struct Greeter;

impl Hello for Greeter {
    async fn say_hello(
        &self,
        request: Request<HelloRequest>,
    ) -> Result<Response<HelloReply>, Status> {
        let compressed = request.was_compressed();
        let name = request.into_inner().name;
        println!(
            "server: request of {} bytes came {}",
            name.len(),
            if compressed { "compressed" } else { "plain" }
        );
        // Something worth compressing: the name many times over.
        Ok(Response::new(HelloReply {
            message: format!("hello {name} ").repeat(100),
        }))
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = tern::Server::builder().send_compressed(CompressionEncoding::Gzip);
    let addr = serve_in_background(server.add_service(HelloServer::new(Greeter))).await?;

    let client = HelloClient::connect(&format!("http://{addr}"))
        .await?
        .send_compressed(CompressionEncoding::Gzip);
    let reply = client
        .say_hello(HelloRequest {
            name: "compressed ".repeat(50),
            age: 0,
        })
        .await?;
    println!(
        "client: reply of {} bytes came {}",
        reply.get_ref().message.len(),
        if reply.was_compressed() {
            "compressed"
        } else {
            "plain"
        }
    );
    expect(reply.was_compressed(), "the server compresses its replies")?;

    // One call that sends zstd instead; the server accepts every encoding Tern supports.
    let mut request = Request::new(HelloRequest {
        name: "zstd ".repeat(50),
        age: 0,
    });
    request.set_send_compression(CompressionEncoding::Zstd);
    let reply = client.say_hello(request).await?;
    expect(
        reply.get_ref().message.starts_with("hello zstd"),
        "the zstd call's reply",
    )?;
    println!("client: a zstd call answered too");
    Ok(())
}
