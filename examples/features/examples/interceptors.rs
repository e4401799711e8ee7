//! Interceptors: the Hello server checks a bearer token and hands the caller's name to the
//! handler, sheds load over a concurrency limit, logs every call, and times each one with an
//! observer that adds a trailer; the client adds the token to every call with an interceptor of
//! its own. A call without the token never reaches the handler.
//!
//! `cargo run -p tern-features --example interceptors`

use std::time::Instant;

use hello::hello::hello_client::HelloClient;
use hello::hello::hello_server::{Hello, HelloServer};
use hello::hello::{HelloReply, HelloRequest};
use tern::interceptor::builtin::{BearerAuth, ConcurrencyLimit, RequestLog};
use tern::interceptor::{client_fn, CallObserver, IncomingCall, ServerInterceptor};
use tern::{Channel, Code, Metadata, Request, Response, Status};
use tern_features::{expect, serve_in_background};

/// Who is calling, as the auth interceptor found out.
#[derive(Clone)]
struct Caller(String);

struct Greeter;

impl Hello for Greeter {
    async fn say_hello(
        &self,
        request: Request<HelloRequest>,
    ) -> Result<Response<HelloReply>, Status> {
        // Set by the interceptor; a call that got here has one.
        let caller = request
            .extensions()
            .get::<Caller>()
            .map(|c| c.0.clone())
            .unwrap_or_default();
        let HelloRequest { name, age } = request.into_inner();
        Ok(Response::new(HelloReply {
            message: format!("hello {name} {age} (called by {caller})"),
        }))
    }
}

/// Times each call and says how long it took in an `x-elapsed-us` trailer.
struct Timing;

struct Timer(Instant);

impl ServerInterceptor for Timing {
    type Observer = Timer;

    async fn intercept(&self, _call: &mut IncomingCall<'_>) -> Result<Timer, Status> {
        Ok(Timer(Instant::now()))
    }
}

impl CallObserver for Timer {
    fn on_finish(&mut self, _status: &Status, trailers: &mut Metadata) {
        let elapsed = self.0.elapsed().as_micros().to_string();
        let _ = trailers.insert("x-elapsed-us", &elapsed);
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // In a real server this would ask a session store or check a JWT.
    let auth = BearerAuth::new(|token: String| async move {
        match token.as_str() {
            "alice-token" => Ok(Caller("alice".into())),
            _ => Err(Status::unauthenticated("unknown token")),
        }
    });
    let addr = serve_in_background(
        tern::Server::builder()
            .intercept(RequestLog::new())
            .intercept(ConcurrencyLimit::new(100))
            .intercept(Timing)
            .add_service(HelloServer::new(Greeter).intercept(auth)),
    )
    .await?;
    let target = format!("http://{addr}");

    // A client that sends the token on every call.
    let channel = Channel::builder(&target)?
        .intercept(client_fn(|call| {
            call.metadata_mut()
                .insert("authorization", "Bearer alice-token")?;
            Ok(())
        }))
        .connect()
        .await?;
    let reply = HelloClient::new(channel)
        .say_hello(HelloRequest {
            name: "world".into(),
            age: 18,
        })
        .await?;
    println!("client: {}", reply.get_ref().message);
    expect(
        reply.get_ref().message == "hello world 18 (called by alice)",
        "the handler names the caller",
    )?;
    let elapsed = reply.trailers().get("x-elapsed-us");
    println!("client: the server took {} us", elapsed.unwrap_or("?"));
    expect(elapsed.is_some(), "the timing trailer arrives")?;

    // A client without it is refused before the handler runs.
    let anonymous = HelloClient::connect(&target).await?;
    let status = anonymous
        .say_hello(HelloRequest {
            name: "mallory".into(),
            age: 1,
        })
        .await
        .unwrap_err();
    println!("anonymous client: {} {}", status.code(), status.message());
    expect(status.code() == Code::Unauthenticated, "no token, no call")?;
    Ok(())
}
