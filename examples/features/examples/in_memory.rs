//! Testing a service without a socket: the server and its client joined inside one process by
//! the in-memory transport — no port to pick, nothing to clean up — with the same HTTP/2,
//! deadlines and statuses as over TCP. This is how a service's own tests can call it.
//!
//! `cargo run -p tern-features --example in_memory`

use std::time::Duration;

use hello::hello::hello_client::HelloClient;
use hello::hello::hello_server::HelloServer;
use hello::hello::HelloRequest;
use hello::Greeter;
use tern::memory::MemoryListener;
use tern::Request;
use tern_features::expect;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let listener = MemoryListener::new();
    let connector = listener.connector();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(
        tern::Server::builder()
            .add_service(HelloServer::new(Greeter))
            .serve_memory(listener, async {
                let _ = stopped.await;
            }),
    );

    let client = HelloClient::new(connector.connect().await?);
    let mut request = Request::new(HelloRequest {
        name: "world".into(),
        age: 18,
    });
    request.set_timeout(Duration::from_secs(1));
    let reply = client.say_hello(request).await?.into_inner();
    println!("client: {}", reply.message);
    expect(reply.message == "hello world 18", "the tutorial's answer")?;

    // Stopping the server drains it; afterwards connecting fails as a closed port does.
    let _ = stop.send(());
    server.await??;
    let refused = connector.connect().await.unwrap_err();
    println!("after shutdown: {refused}");
    Ok(())
}
