//! Where the CLI learns a server's types: from the server itself through reflection (v1, or
//! v1alpha for older servers), or from `.proto` files parsed with protox.

use prost::Message as _;
use prost_reflect::{DescriptorPool, MethodDescriptor, ServiceDescriptor};
use tern::services::reflection::{v1, v1alpha};
use tern::{Channel, Code, Status};

use crate::Failure;

/// Parses `.proto` files into a descriptor pool.
pub(crate) fn from_protos(
    protos: &[String],
    includes: &[String],
) -> Result<DescriptorPool, Failure> {
    let includes: Vec<&str> = if includes.is_empty() {
        vec!["."]
    } else {
        includes.iter().map(String::as_str).collect()
    };
    let set = protox::compile(protos, includes)
        .map_err(|e| Failure::usage(format!("cannot parse {}: {e}", protos.join(", "))))?;
    DescriptorPool::from_file_descriptor_set(set)
        .map_err(|e| Failure::usage(format!("invalid descriptors: {e}")))
}

/// Asks a server one reflection question, trying v1 and then v1alpha.
async fn ask(
    channel: &Channel,
    question: v1::server_reflection_request::MessageRequest,
) -> Result<v1::server_reflection_response::MessageResponse, Failure> {
    let request = v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(question),
    };
    let client = v1::server_reflection_client::ServerReflectionClient::new(channel.clone());
    let answer = match client
        .server_reflection_info(Once::new(request.clone()))
        .await
    {
        Ok(response) => response.into_inner().message().await,
        Err(status) => Err(status),
    };
    let answer = match answer {
        Err(status) if status.code() == Code::Unimplemented => {
            let old =
                v1alpha::server_reflection_client::ServerReflectionClient::new(channel.clone());
            let request: v1alpha::ServerReflectionRequest = same_wire(&request)?;
            let answer = old
                .server_reflection_info(Once::new(request))
                .await
                .map_err(reflection_failure)?
                .into_inner()
                .message()
                .await
                .map_err(reflection_failure)?;
            match answer {
                Some(a) => Some(same_wire::<_, v1::ServerReflectionResponse>(&a)?),
                None => None,
            }
        }
        other => other.map_err(reflection_failure)?,
    };
    let answer = answer
        .and_then(|a| a.message_response)
        .ok_or_else(|| Failure::rpc(Status::internal("the server sent no reflection answer")))?;
    if let v1::server_reflection_response::MessageResponse::ErrorResponse(e) = &answer {
        return Err(Failure::rpc(Status::new(
            Code::from_i32(e.error_code),
            e.error_message.clone(),
        )));
    }
    Ok(answer)
}

fn reflection_failure(status: Status) -> Failure {
    if status.code() == Code::Unimplemented {
        return Failure::rpc(Status::unimplemented(
            "the server does not support reflection: pass --proto FILE (and -I DIR)",
        ));
    }
    Failure::rpc(status)
}

fn same_wire<A: prost::Message, B: prost::Message + Default>(a: &A) -> Result<B, Failure> {
    B::decode(a.encode_to_vec().as_slice())
        .map_err(|e| Failure::rpc(Status::internal(e.to_string())))
}

/// The services a server lists through reflection.
pub(crate) async fn list_services(channel: &Channel) -> Result<Vec<String>, Failure> {
    use v1::server_reflection_request::MessageRequest;
    use v1::server_reflection_response::MessageResponse;
    match ask(channel, MessageRequest::ListServices(String::new())).await? {
        MessageResponse::ListServicesResponse(list) => {
            let mut names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
            names.sort();
            Ok(names)
        }
        _ => Err(Failure::rpc(Status::internal(
            "unexpected reflection answer",
        ))),
    }
}

/// The descriptors of the file defining `symbol` (and its imports), from the server.
pub(crate) async fn pool_for_symbol(
    channel: &Channel,
    symbol: &str,
) -> Result<DescriptorPool, Failure> {
    use v1::server_reflection_request::MessageRequest;
    use v1::server_reflection_response::MessageResponse;
    let answer = ask(
        channel,
        MessageRequest::FileContainingSymbol(symbol.to_owned()),
    )
    .await;
    let files = match answer {
        Ok(MessageResponse::FileDescriptorResponse(files)) => files.file_descriptor_proto,
        Ok(_) => {
            return Err(Failure::rpc(Status::internal(
                "unexpected reflection answer",
            )))
        }
        Err(Failure::Rpc(status)) if status.code() == Code::NotFound => {
            let known = list_services(channel).await.unwrap_or_default();
            return Err(Failure::not_found(symbol, &known));
        }
        Err(e) => return Err(e),
    };
    let protos = files
        .iter()
        .map(|bytes| prost_reflect::prost_types::FileDescriptorProto::decode(bytes.as_slice()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Failure::rpc(Status::internal(format!("bad descriptor from server: {e}"))))?;
    let mut pool = DescriptorPool::new();
    pool.add_file_descriptor_protos(protos).map_err(|e| {
        Failure::rpc(Status::internal(format!(
            "bad descriptors from server: {e}"
        )))
    })?;
    Ok(pool)
}

/// Finds a service in a pool, or says which names are close.
pub(crate) fn service(pool: &DescriptorPool, name: &str) -> Result<ServiceDescriptor, Failure> {
    pool.get_service_by_name(name).ok_or_else(|| {
        let known: Vec<String> = pool.services().map(|s| s.full_name().to_owned()).collect();
        Failure::not_found(name, &known)
    })
}

/// Finds `pkg.Service/Method` (or `pkg.Service.Method`).
pub(crate) fn method(pool: &DescriptorPool, path: &str) -> Result<MethodDescriptor, Failure> {
    let (service_name, method_name) = split_method(path)?;
    let service = service(pool, service_name)?;
    let found = service.methods().find(|m| m.name() == method_name);
    found.ok_or_else(|| {
        let known: Vec<String> = service
            .methods()
            .map(|m| format!("{}/{}", service.full_name(), m.name()))
            .collect();
        Failure::not_found(path, &known)
    })
}

/// Splits `pkg.Service/Method` or `pkg.Service.Method` into service and method.
pub(crate) fn split_method(path: &str) -> Result<(&str, &str), Failure> {
    let path = path.trim_start_matches('/');
    path.split_once('/')
        .or_else(|| path.rsplit_once('.'))
        .ok_or_else(|| Failure::usage(format!("{path:?} is not a method: use pkg.Service/Method")))
}

/// A request stream of exactly one message.
pub(crate) struct Once<T>(Option<T>);

impl<T> Once<T> {
    pub(crate) fn new(item: T) -> Once<T> {
        Once(Some(item))
    }
}

impl<T: Unpin> futures_core::Stream for Once<T> {
    type Item = T;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<T>> {
        std::task::Poll::Ready(self.0.take())
    }
}
