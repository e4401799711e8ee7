//! The real-world protos, compiled by build.rs and brought in with one line, serve and call:
//! a `google.longrunning.Operations` server on a loopback port, called by the generated client,
//! and server reflection loaded with the descriptors of every package compiled.

tern::include_protos!();

use google::longrunning::operations_client::OperationsClient;
use google::longrunning::operations_server::{Operations, OperationsServer};
use google::longrunning::{
    operation, CancelOperationRequest, DeleteOperationRequest, GetOperationRequest,
    ListOperationsRequest, ListOperationsResponse, Operation, WaitOperationRequest,
};
use tern::codegen::prost::Message as _;
use tern::codegen::prost_types::Any;
use tern::{Request, Response, Status};

const TOPIC_TYPE: &str = "type.googleapis.com/google.pubsub.v1.Topic";

/// Every operation asked for is done, its result a `google.pubsub.v1.Topic` named after it.
struct Done;

impl Operations for Done {
    async fn list_operations(
        &self,
        _: Request<ListOperationsRequest>,
    ) -> Result<Response<ListOperationsResponse>, Status> {
        Err(Status::unimplemented("list_operations"))
    }

    async fn get_operation(
        &self,
        request: Request<GetOperationRequest>,
    ) -> Result<Response<Operation>, Status> {
        let name = request.into_inner().name;
        let topic = google::pubsub::v1::Topic {
            name: format!("projects/p/topics/{name}"),
            ..Default::default()
        };
        let result = Any {
            type_url: TOPIC_TYPE.into(),
            value: topic.encode_to_vec(),
        };
        Ok(Response::new(Operation {
            name,
            done: true,
            result: Some(operation::Result::Response(result)),
            ..Default::default()
        }))
    }

    async fn delete_operation(
        &self,
        request: Request<DeleteOperationRequest>,
    ) -> Result<Response<()>, Status> {
        match request.into_inner().name.as_str() {
            "" => Err(Status::invalid_argument("no name")),
            _ => Ok(Response::new(())),
        }
    }

    async fn cancel_operation(
        &self,
        _: Request<CancelOperationRequest>,
    ) -> Result<Response<()>, Status> {
        Err(Status::unimplemented("cancel_operation"))
    }

    async fn wait_operation(
        &self,
        _: Request<WaitOperationRequest>,
    ) -> Result<Response<Operation>, Status> {
        Err(Status::unimplemented("wait_operation"))
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let reflection = tern::services::reflection::Reflection::new()
        .register(tern::include_descriptor_set!())?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = tern::Server::builder()
        .add_service(OperationsServer::new(Done))
        .with_reflection(reflection)
        .serve_listener(listener, std::future::pending());
    let server = tokio::spawn(server);

    let client = OperationsClient::connect(&format!("http://{addr}")).await?;
    let operation = client
        .get_operation(GetOperationRequest { name: "op-1".into() })
        .await?
        .into_inner();
    let Some(operation::Result::Response(any)) = operation.result else {
        return Err(format!("GetOperation answered {operation:?}").into());
    };
    let topic = google::pubsub::v1::Topic::decode(&any.value[..])?;
    if !operation.done || any.type_url != TOPIC_TYPE || topic.name != "projects/p/topics/op-1" {
        return Err(format!("GetOperation answered done={} {topic:?}", operation.done).into());
    }
    client
        .delete_operation(DeleteOperationRequest { name: "op-1".into() })
        .await?;
    let refused = client
        .delete_operation(DeleteOperationRequest::default())
        .await;
    match refused {
        Err(status) if status.code() == tern::Code::InvalidArgument => {}
        other => return Err(format!("DeleteOperation of no name answered {other:?}").into()),
    }
    server.abort();
    println!("google.longrunning.Operations served and called in process: GetOperation, DeleteOperation ok");
    Ok(())
}
