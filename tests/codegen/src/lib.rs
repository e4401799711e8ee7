//! Code generated from the hard fixtures in `proto/`, brought in with one line each; the tests
//! in `tests/` serve and call it.

pub mod streams;

// Every package compiled by build.rs, nested: wkt, r#type::r#match, a::b::c, legacy, ...
tern::include_protos!();

/// `sides.proto` with clients only.
pub mod client_only {
    include!(concat!(env!("OUT_DIR"), "/client_only/_includes.rs"));
}

/// `sides.proto` with servers only.
pub mod server_only {
    include!(concat!(env!("OUT_DIR"), "/server_only/_includes.rs"));
}

/// `wkt.proto` with `google.protobuf` compiled in (`google::protobuf::Empty` is a struct).
pub mod wkt_compiled {
    include!(concat!(env!("OUT_DIR"), "/wkt_compiled/_includes.rs"));
}

/// Serves `service` on a free loopback port until the test ends, and a channel to it.
pub async fn serve<S: tern::server::Service>(service: S) -> tern::Channel {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let addr = listener.local_addr().expect("the port bound");
    tokio::spawn(
        tern::Server::builder()
            .add_service(service)
            .serve_listener(listener, std::future::pending()),
    );
    tern::Channel::connect(&format!("http://{addr}"))
        .await
        .expect("connect to the test server")
}

/// The encoded descriptors of everything in the main run, comments included.
pub const FILE_DESCRIPTOR_SET: &[u8] = tern::include_descriptor_set!();
