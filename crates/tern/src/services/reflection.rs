//! Server reflection, `grpc.reflection.v1.ServerReflection` and the older
//! `grpc.reflection.v1alpha` that many tools still ask for: lets grpcurl and friends list a
//! server's services and fetch the descriptors of its files, from the descriptor sets that
//! `tern-build` wrote (`tern::include_descriptor_set!()`).
//!
//! ```no_run
//! # async fn f<S: tern::server::Service>(service: S, descriptors: &[u8]) -> Result<(), Box<dyn std::error::Error>> {
//! use tern::services::reflection::Reflection;
//!
//! let reflection = Reflection::new().register(descriptors)?;
//! tern::Server::builder()
//!     .add_service(service)
//!     .with_reflection(reflection)
//!     .serve("0.0.0.0:5000".parse()?)
//!     .await?;
//! # Ok(()) }
//! ```

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use futures_core::Stream;
use prost::Message as _;
use prost_reflect::{DescriptorPool, FileDescriptor};

use crate::{Code, Request, Response, Status, Streaming};

/// The generated messages and service of `grpc.reflection.v1`.
#[allow(missing_docs, unreachable_pub, missing_debug_implementations)]
#[rustfmt::skip]
pub mod v1 {
    include!("generated/grpc.reflection.v1.rs");

    /// The encoded descriptors of `grpc/reflection/v1/reflection.proto`.
    pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!("generated/reflection_v1.bin");
}

/// The generated messages and service of `grpc.reflection.v1alpha`.
#[allow(missing_docs, unreachable_pub, missing_debug_implementations)]
#[rustfmt::skip]
pub mod v1alpha {
    include!("generated/grpc.reflection.v1alpha.rs");

    /// The encoded descriptors of `grpc/reflection/v1alpha/reflection.proto`.
    pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!("generated/reflection_v1alpha.bin");
}

use v1::server_reflection_request::MessageRequest;
use v1::server_reflection_response::MessageResponse;
use v1::{
    ErrorResponse, ExtensionNumberResponse, FileDescriptorResponse, ListServiceResponse,
    ServerReflectionRequest, ServerReflectionResponse, ServiceResponse,
};

/// Why a descriptor set could not be registered.
#[derive(Debug)]
pub struct RegisterError(prost_reflect::DescriptorError);

impl fmt::Display for RegisterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid file descriptor set: {}", self.0)
    }
}

impl std::error::Error for RegisterError {}

/// What reflection knows: the files of the registered descriptor sets and their imports.
#[derive(Clone)]
pub struct Reflection {
    pool: Arc<DescriptorPool>,
}

impl fmt::Debug for Reflection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reflection")
            .field(
                "services",
                &self
                    .pool
                    .services()
                    .map(|s| s.full_name().to_owned())
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Default for Reflection {
    fn default() -> Reflection {
        Reflection::new()
    }
}

impl Reflection {
    /// Reflection that knows its own two services.
    pub fn new() -> Reflection {
        let mut pool = DescriptorPool::new();
        for set in [v1::FILE_DESCRIPTOR_SET, v1alpha::FILE_DESCRIPTOR_SET] {
            // Tern's own descriptors are checked in and tested: they always decode.
            let _ = pool.decode_file_descriptor_set(set);
        }
        Reflection {
            pool: Arc::new(pool),
        }
    }

    /// Adds an encoded `FileDescriptorSet`, e.g. `tern::include_descriptor_set!()`; its
    /// services are listed and its files served.
    pub fn register(mut self, descriptor_set: &[u8]) -> Result<Reflection, RegisterError> {
        Arc::make_mut(&mut self.pool)
            .decode_file_descriptor_set(descriptor_set)
            .map_err(RegisterError)?;
        Ok(self)
    }

    /// The v1 service.
    pub fn v1(&self) -> v1::server_reflection_server::ServerReflectionServer<ReflectionV1> {
        v1::server_reflection_server::ServerReflectionServer::new(ReflectionV1(self.clone()))
    }

    /// The v1alpha service.
    pub fn v1alpha(
        &self,
    ) -> v1alpha::server_reflection_server::ServerReflectionServer<ReflectionV1alpha> {
        v1alpha::server_reflection_server::ServerReflectionServer::new(ReflectionV1alpha(
            self.clone(),
        ))
    }

    fn answer(&self, request: ServerReflectionRequest) -> ServerReflectionResponse {
        let message_response = match &request.message_request {
            Some(MessageRequest::ListServices(_)) => {
                MessageResponse::ListServicesResponse(ListServiceResponse {
                    service: self
                        .pool
                        .services()
                        .map(|s| ServiceResponse {
                            name: s.full_name().to_owned(),
                        })
                        .collect(),
                })
            }
            Some(MessageRequest::FileByFilename(name)) => match self.pool.get_file_by_name(name) {
                Some(file) => files(file),
                None => not_found(format!("unknown file {name:?}")),
            },
            Some(MessageRequest::FileContainingSymbol(symbol)) => match self.file_of(symbol) {
                Some(file) => files(file),
                None => not_found(format!("unknown symbol {symbol:?}")),
            },
            Some(MessageRequest::FileContainingExtension(ext)) => {
                let file = self
                    .pool
                    .get_message_by_name(&ext.containing_type)
                    .and_then(|m| {
                        m.extensions()
                            .find(|e| e.number() == ext.extension_number as u32)
                    })
                    .map(|e| e.parent_file());
                match file {
                    Some(file) => files(file),
                    None => not_found(format!(
                        "no extension {} of {:?}",
                        ext.extension_number, ext.containing_type
                    )),
                }
            }
            Some(MessageRequest::AllExtensionNumbersOfType(name)) => {
                match self.pool.get_message_by_name(name) {
                    Some(message) => {
                        MessageResponse::AllExtensionNumbersResponse(ExtensionNumberResponse {
                            base_type_name: name.clone(),
                            extension_number: message
                                .extensions()
                                .map(|e| e.number() as i32)
                                .collect(),
                        })
                    }
                    None => not_found(format!("unknown message type {name:?}")),
                }
            }
            None => MessageResponse::ErrorResponse(ErrorResponse {
                error_code: Code::InvalidArgument as i32,
                error_message: "empty reflection request".into(),
            }),
        };
        ServerReflectionResponse {
            valid_host: request.host.clone(),
            original_request: Some(request),
            message_response: Some(message_response),
        }
    }

    /// The file defining a symbol: a type, service, method, field, enum value or extension.
    fn file_of(&self, symbol: &str) -> Option<FileDescriptor> {
        let pool = &self.pool;
        if let Some(d) = pool.get_message_by_name(symbol) {
            return Some(d.parent_file());
        }
        if let Some(d) = pool.get_service_by_name(symbol) {
            return Some(d.parent_file());
        }
        if let Some(d) = pool.get_enum_by_name(symbol) {
            return Some(d.parent_file());
        }
        if let Some(d) = pool.get_extension_by_name(symbol) {
            return Some(d.parent_file());
        }
        // A member: Service.Method, Message.field, Enum.VALUE.
        let (parent, member) = symbol.rsplit_once('.')?;
        if let Some(s) = pool.get_service_by_name(parent) {
            return s
                .methods()
                .any(|m| m.name() == member)
                .then(|| s.parent_file());
        }
        if let Some(m) = pool.get_message_by_name(parent) {
            return m.get_field_by_name(member).map(|_| m.parent_file());
        }
        if let Some(e) = pool.get_enum_by_name(parent) {
            return e.get_value_by_name(member).map(|_| e.parent_file());
        }
        None
    }
}

fn not_found(message: String) -> MessageResponse {
    MessageResponse::ErrorResponse(ErrorResponse {
        error_code: Code::NotFound as i32,
        error_message: message,
    })
}

/// A file and every file it imports, transitively, each once, the file first.
fn files(file: FileDescriptor) -> MessageResponse {
    let mut seen = HashSet::new();
    let mut order = Vec::new();
    let mut stack = vec![file];
    while let Some(file) = stack.pop() {
        if !seen.insert(file.name().to_owned()) {
            continue;
        }
        order.push(file.file_descriptor_proto().encode_to_vec());
        stack.extend(file.dependencies());
    }
    MessageResponse::FileDescriptorResponse(FileDescriptorResponse {
        file_descriptor_proto: order,
    })
}

/// The answers to a reflection stream, from a task that reads its questions.
struct Answers(tokio::sync::mpsc::Receiver<Result<ServerReflectionResponse, Status>>);

impl Stream for Answers {
    type Item = Result<ServerReflectionResponse, Status>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.0.poll_recv(cx)
    }
}

/// Answers each question of the stream in order, until the client ends it.
fn answer_stream<Q: Send + 'static>(
    reflection: Reflection,
    mut questions: Streaming<Q>,
    convert: fn(Q) -> Result<ServerReflectionRequest, Status>,
) -> Answers {
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tokio::spawn(async move {
        loop {
            let answer = match questions.message().await {
                Ok(Some(question)) => convert(question).map(|q| reflection.answer(q)),
                Ok(None) => return,
                Err(status) => Err(status),
            };
            let failed = answer.is_err();
            if tx.send(answer).await.is_err() || failed {
                return;
            }
        }
    });
    Answers(rx)
}

/// `grpc.reflection.v1.ServerReflection` over a [`Reflection`].
#[derive(Debug)]
pub struct ReflectionV1(Reflection);

impl v1::server_reflection_server::ServerReflection for ReflectionV1 {
    async fn server_reflection_info(
        &self,
        request: Request<Streaming<ServerReflectionRequest>>,
    ) -> Result<Response<impl Stream<Item = Result<ServerReflectionResponse, Status>> + Send>, Status>
    {
        Ok(Response::new(answer_stream(
            self.0.clone(),
            request.into_inner(),
            Ok,
        )))
    }
}

/// Re-reads a message as another type with the same wire format: v1alpha's messages are v1's
/// under another package.
fn same_wire<A: prost::Message, B: prost::Message + Default>(message: &A) -> Result<B, Status> {
    B::decode(message.encode_to_vec().as_slice())
        .map_err(|e| Status::internal(format!("reflection message conversion: {e}")))
}

/// The v1alpha answer stream: v1 answers, re-read as v1alpha messages.
struct AnswersV1alpha(Answers);

impl Stream for AnswersV1alpha {
    type Item = Result<v1alpha::ServerReflectionResponse, Status>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        std::pin::Pin::new(&mut self.0)
            .poll_next(cx)
            .map(|next| next.map(|answer| answer.and_then(|a| same_wire(&a))))
    }
}

/// `grpc.reflection.v1alpha.ServerReflection` over a [`Reflection`].
#[derive(Debug)]
pub struct ReflectionV1alpha(Reflection);

impl v1alpha::server_reflection_server::ServerReflection for ReflectionV1alpha {
    async fn server_reflection_info(
        &self,
        request: Request<Streaming<v1alpha::ServerReflectionRequest>>,
    ) -> Result<
        Response<impl Stream<Item = Result<v1alpha::ServerReflectionResponse, Status>> + Send>,
        Status,
    > {
        let answers = answer_stream(self.0.clone(), request.into_inner(), |q| same_wire(&q));
        Ok(Response::new(AnswersV1alpha(answers)))
    }
}
