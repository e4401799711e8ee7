//! The tutorial's Hello service on tonic, answering as Tern's hello-server does.

use tonic::{transport::Server, Request, Response, Status};

pub mod hello {
    tonic::include_proto!("hello");
}

use hello::hello_server::{Hello, HelloServer};
use hello::{HelloReply, HelloRequest};

#[derive(Default)]
struct Greeter;

#[tonic::async_trait]
impl Hello for Greeter {
    async fn say_hello(&self, request: Request<HelloRequest>) -> Result<Response<HelloReply>, Status> {
        let HelloRequest { name, age } = request.into_inner();
        Ok(Response::new(HelloReply {
            message: format!("hello {name} {age}"),
        }))
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:50051".into())
        .parse()?;
    Server::builder()
        .tcp_nodelay(true)
        .add_service(HelloServer::new(Greeter))
        .serve(addr)
        .await?;
    Ok(())
}
