//! `tern call`: a method called with JSON requests, its responses printed as JSON, the types
//! taken from the server's reflection or from `.proto` files.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use prost::Message as _;
use prost_reflect::{DynamicMessage, MessageDescriptor, MethodDescriptor};
use tern::client::Client;
use tern::codec::Codec;
use tern::codegen::PathAndQuery;
use tern::{Request, Status};

use crate::{connect, schema, Failure, Target};

/// What the call sends besides its messages.
pub(crate) struct Options {
    pub(crate) data: Option<String>,
    pub(crate) headers: Vec<String>,
    pub(crate) timeout: Option<Duration>,
}

/// Protobuf through descriptors known at run time.
#[derive(Clone)]
struct DynamicCodec {
    output: MessageDescriptor,
}

impl Codec for DynamicCodec {
    type Encode = DynamicMessage;
    type Decode = DynamicMessage;

    fn encoded_len(&self, message: &DynamicMessage) -> usize {
        message.encoded_len()
    }

    fn encode(&self, message: &DynamicMessage, buf: &mut BytesMut) -> Result<(), Status> {
        message
            .encode(buf)
            .map_err(|e| Status::internal(format!("failed to encode request: {e}")))
    }

    fn decode(&self, payload: Bytes) -> Result<DynamicMessage, Status> {
        DynamicMessage::decode(self.output.clone(), payload).map_err(|e| {
            Status::internal(format!(
                "failed to decode the response as {}: {e}",
                self.output.full_name()
            ))
        })
    }
}

/// Reads the request text: inline, `@file`, or `-` for stdin.
pub(crate) async fn request_text(data: Option<&str>) -> Result<Option<String>, Failure> {
    match data {
        None => Ok(None),
        Some("-") => {
            use tokio::io::AsyncReadExt;
            let mut text = String::new();
            tokio::io::stdin()
                .read_to_string(&mut text)
                .await
                .map_err(|e| Failure::usage(format!("cannot read stdin: {e}")))?;
            Ok(Some(text))
        }
        Some(data) => match data.strip_prefix('@') {
            Some(path) => tokio::fs::read_to_string(path)
                .await
                .map(Some)
                .map_err(|e| Failure::usage(format!("cannot read {path}: {e}"))),
            None => Ok(Some(data.to_owned())),
        },
    }
}

/// Parses each JSON object of the text as a request message.
fn requests(text: &str, input: &MessageDescriptor) -> Result<Vec<DynamicMessage>, Failure> {
    serde_json::Deserializer::from_str(text)
        .into_iter::<serde_json::Value>()
        .map(|value| {
            let value = value.map_err(|e| Failure::usage(format!("malformed JSON: {e}")))?;
            DynamicMessage::deserialize(input.clone(), value).map_err(|e| {
                Failure::usage(format!("invalid request for {}: {e}", input.full_name()))
            })
        })
        .collect()
}

fn with_options<T>(message: T, options: &Options) -> Result<Request<T>, Failure> {
    let mut request = Request::new(message);
    for header in &options.headers {
        let (key, value) = header
            .split_once(':')
            .ok_or_else(|| Failure::usage(format!("header {header:?} is not 'key: value'")))?;
        let (key, value) = (key.trim().to_ascii_lowercase(), value.trim());
        let added = if key.ends_with("-bin") {
            request.metadata_mut().append_bin(&key, value.as_bytes())
        } else {
            request.metadata_mut().append(&key, value)
        };
        added.map_err(|e| Failure::usage(e.to_string()))?;
    }
    if let Some(timeout) = options.timeout {
        request.set_timeout(timeout);
    }
    Ok(request)
}

fn print_json(message: &DynamicMessage, pretty: bool) -> Result<(), Failure> {
    let text = if pretty {
        serde_json::to_string_pretty(message)
    } else {
        serde_json::to_string(message)
    };
    let text =
        text.map_err(|e| Failure::rpc(Status::internal(format!("cannot print JSON: {e}"))))?;
    println!("{text}");
    Ok(())
}

/// Calls `method_path` on the server at `addr`.
pub(crate) async fn run(
    addr: &Target,
    method_path: &str,
    options: Options,
    protos: &[String],
    includes: &[String],
) -> Result<(), Failure> {
    let text = request_text(options.data.as_deref()).await?;
    let (service_name, _) = schema::split_method(method_path)?;
    let channel = connect(addr).await?;
    let pool = if protos.is_empty() {
        schema::pool_for_symbol(&channel, service_name).await?
    } else {
        schema::from_protos(protos, includes)?
    };
    let method = schema::method(&pool, method_path)?;
    let mut messages = requests(text.as_deref().unwrap_or(""), &method.input())?;
    let client = Client::new(channel);
    let path = path_of(&method)?;
    let codec = DynamicCodec {
        output: method.output(),
    };
    match (method.is_client_streaming(), method.is_server_streaming()) {
        (false, server_streaming) => {
            let message = match messages.len() {
                0 => DynamicMessage::new(method.input()),
                1 => messages.remove(0),
                n => {
                    return Err(Failure::usage(format!(
                        "{method_path} takes one request message, {n} were given"
                    )))
                }
            };
            let request = with_options(message, &options)?;
            if server_streaming {
                let mut replies = client
                    .server_streaming(path, request, codec)
                    .await
                    .map_err(Failure::rpc)?
                    .into_inner();
                while let Some(reply) = replies.message().await.map_err(Failure::rpc)? {
                    print_json(&reply, false)?;
                }
            } else {
                let reply = client
                    .unary(path, request, codec)
                    .await
                    .map_err(Failure::rpc)?;
                print_json(reply.get_ref(), true)?;
            }
        }
        (true, server_streaming) => {
            let request = with_options(Messages(messages.into()), &options)?;
            if server_streaming {
                let mut replies = client
                    .streaming(path, request, codec)
                    .await
                    .map_err(Failure::rpc)?
                    .into_inner();
                while let Some(reply) = replies.message().await.map_err(Failure::rpc)? {
                    print_json(&reply, false)?;
                }
            } else {
                let reply = client
                    .client_streaming(path, request, codec)
                    .await
                    .map_err(Failure::rpc)?;
                print_json(reply.get_ref(), true)?;
            }
        }
    }
    Ok(())
}

fn path_of(method: &MethodDescriptor) -> Result<PathAndQuery, Failure> {
    let path = format!("/{}/{}", method.parent_service().full_name(), method.name());
    PathAndQuery::try_from(path).map_err(|e| Failure::usage(format!("invalid method path: {e}")))
}

/// The request messages of a streaming call, sent in order.
struct Messages(std::collections::VecDeque<DynamicMessage>);

impl futures_core::Stream for Messages {
    type Item = DynamicMessage;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<DynamicMessage>> {
        std::task::Poll::Ready(self.0.pop_front())
    }
}
