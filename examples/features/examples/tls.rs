//! TLS and mutual TLS: a server with a certificate and a client CA, a client that trusts that CA
//! and presents its own certificate, and a handler that reads who called. The certificates are
//! made up when the example starts; a real server loads PEM files
//! (`ServerTlsConfig::from_pem_files`, re-read when they change) and a real client often needs
//! nothing at all (an `https://` target trusts the system's roots).
//!
//! `cargo run -p tern-features --example tls`

use hello::hello::hello_client::HelloClient;
use hello::hello::hello_server::{Hello, HelloServer};
use hello::hello::{HelloReply, HelloRequest};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair,
};
use tern::tls::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};
use tern::{Request, Response, Status};
use tern_features::{expect, serve_in_background};

/// Greets the caller by the size of the certificate it presented.
struct Greeter;

impl Hello for Greeter {
    async fn say_hello(
        &self,
        request: Request<HelloRequest>,
    ) -> Result<Response<HelloReply>, Status> {
        let certificate = request
            .peer_certificates()
            .and_then(|chain| chain.first())
            .map(|leaf| leaf.len())
            .ok_or_else(|| Status::unauthenticated("no client certificate"))?;
        let name = request.into_inner().name;
        Ok(Response::new(HelloReply {
            message: format!("hello {name}, holder of a {certificate}-byte certificate"),
        }))
    }
}

/// A certificate authority, and a certificate and key it signed, in PEM.
fn issue(
    ca: &CertifiedIssuer<'static, KeyPair>,
    names: &[&str],
    usage: ExtendedKeyUsagePurpose,
) -> Result<(String, String), rcgen::Error> {
    let mut params =
        CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())?;
    params.extended_key_usages = vec![usage];
    params.distinguished_name.push(
        DnType::CommonName,
        names.first().copied().unwrap_or("client"),
    );
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, ca)?;
    Ok((cert.pem(), key.serialize_pem()))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "example CA");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate()?)?;
    let (server_cert, server_key) =
        issue(&ca, &["localhost"], ExtendedKeyUsagePurpose::ServerAuth)?;
    let (client_cert, client_key) = issue(&ca, &["alice"], ExtendedKeyUsagePurpose::ClientAuth)?;
    let ca_cert = Certificate::from_pem(ca.pem())?;

    // The server: its identity, and client certificates required from this CA (mutual TLS).
    let tls = ServerTlsConfig::new(Identity::from_pem(&server_cert, &server_key)?)
        .client_ca(ca_cert.clone());
    let server = tern::Server::builder().tls(tls)?;
    let addr = serve_in_background(server.add_service(HelloServer::new(Greeter))).await?;

    // The client: trusts the CA, presents alice's certificate, and calls the server by the name
    // its certificate holds.
    let client_tls = ClientTlsConfig::new()
        .ca_certificate(ca_cert)
        .identity(Identity::from_pem(&client_cert, &client_key)?);
    let channel = tern::Channel::builder(&format!("https://localhost:{}", addr.port()))?
        .tls(client_tls)
        .connect()
        .await?;
    let reply = HelloClient::new(channel)
        .say_hello(HelloRequest {
            name: "alice".into(),
            age: 30,
        })
        .await?;
    println!("client: {}", reply.get_ref().message);

    // Without a client certificate the server refuses, and the error says which step failed.
    let refused = tern::Channel::builder(&format!("https://localhost:{}", addr.port()))?
        .tls(ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca.pem())?))
        .connect()
        .await;
    let outcome = match refused {
        Err(e) => e.to_string(),
        Ok(channel) => match HelloClient::new(channel)
            .say_hello(HelloRequest::default())
            .await
        {
            Err(status) => status.to_string(),
            Ok(_) => String::new(),
        },
    };
    println!("client without a certificate: {outcome}");
    expect(
        !outcome.is_empty(),
        "a client without a certificate is refused",
    )?;
    Ok(())
}
