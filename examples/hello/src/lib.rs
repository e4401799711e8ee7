//! The tutorial's Hello service: its generated code and the greeter that answers it.

/// The `hello` proto package: messages, the `Hello` server trait and client.
#[allow(missing_docs, unreachable_pub)]
pub mod hello {
    tern::include_proto!("hello");
}

/// The descriptors of hello.proto, for server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tern::include_descriptor_set!();

use hello::hello_server::Hello;
use hello::{HelloReply, HelloRequest};
use tern::{Request, Response, Status};

/// Answers `SayHello` with `hello {name} {age}`, as the tutorial's Python server does.
#[derive(Debug, Default)]
pub struct Greeter;

impl Hello for Greeter {
    async fn say_hello(
        &self,
        request: Request<HelloRequest>,
    ) -> Result<Response<HelloReply>, Status> {
        let HelloRequest { name, age } = request.into_inner();
        Ok(Response::new(HelloReply {
            message: format!("hello {name} {age}"),
        }))
    }
}
