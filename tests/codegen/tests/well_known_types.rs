//! Every well-known type as the whole request and response of a method, in all four call shapes,
//! called over a real connection: Empty is `()`, the wrappers their Rust values, the rest
//! prost-types' messages.

use futures_core::Stream;
use tern::codegen::prost_types::{
    self, value::Kind, Any, FieldMask, ListValue, Struct, Timestamp, Value,
};
use tern::{Request, Response, Status, Streaming};
use tern_codegen_tests::streams::Iter;
use tern_codegen_tests::wkt::mixed_client::MixedClient;
use tern_codegen_tests::wkt::mixed_server::{Mixed, MixedServer};
use tern_codegen_tests::wkt::well_known_client::WellKnownClient;
use tern_codegen_tests::wkt::well_known_server::{WellKnown, WellKnownServer};

/// Unary echoes, server streaming sends the request twice, client streaming answers the last
/// message, bidi echoes each.
struct Echo;

async fn last<T>(request: Request<Streaming<T>>) -> Result<Response<T>, Status> {
    let mut stream = request.into_inner();
    let mut last = None;
    while let Some(message) = stream.message().await? {
        last = Some(message);
    }
    last.map(Response::new)
        .ok_or_else(|| Status::invalid_argument("no message"))
}

macro_rules! echo {
    ($($ty:ty => $unary:ident, $server:ident, $client:ident, $bidi:ident;)*) => {
        impl WellKnown for Echo {
            $(
                async fn $unary(&self, request: Request<$ty>) -> Result<Response<$ty>, Status> {
                    Ok(Response::new(request.into_inner()))
                }

                async fn $server(
                    &self,
                    request: Request<$ty>,
                ) -> Result<Response<impl Stream<Item = Result<$ty, Status>> + Send>, Status> {
                    let message = request.into_inner();
                    Ok(Response::new(Iter::new([Ok(message.clone()), Ok(message)])))
                }

                async fn $client(
                    &self,
                    request: Request<Streaming<$ty>>,
                ) -> Result<Response<$ty>, Status> {
                    last(request).await
                }

                async fn $bidi(
                    &self,
                    request: Request<Streaming<$ty>>,
                ) -> Result<Response<impl Stream<Item = Result<$ty, Status>> + Send>, Status> {
                    Ok(Response::new(request.into_inner()))
                }
            )*
        }

        $(
            #[tokio::test]
            async fn $unary() {
                let client = WellKnownClient::new(tern_codegen_tests::serve(WellKnownServer::new(Echo)).await);
                let (first, second) = samples::$unary();
                let reply = client.$unary(second.clone()).await.unwrap().into_inner();
                assert_eq!(reply, second, "unary");

                let mut replies = client.$server(second.clone()).await.unwrap().into_inner();
                let mut got = Vec::new();
                while let Some(message) = replies.message().await.unwrap() {
                    got.push(message);
                }
                assert_eq!(got, [second.clone(), second.clone()], "server streaming");

                let reply = client
                    .$client(Iter::new([first.clone(), second.clone()]))
                    .await
                    .unwrap()
                    .into_inner();
                assert_eq!(reply, second, "client streaming");

                let mut replies = client
                    .$bidi(Iter::new([first.clone(), second.clone()]))
                    .await
                    .unwrap()
                    .into_inner();
                let mut got = Vec::new();
                while let Some(message) = replies.message().await.unwrap() {
                    got.push(message);
                }
                assert_eq!(got, [first, second], "bidi streaming");
            }
        )*
    };
}

echo! {
    () => unary_empty, server_empty, client_empty, bidi_empty;
    Timestamp => unary_timestamp, server_timestamp, client_timestamp, bidi_timestamp;
    prost_types::Duration => unary_duration, server_duration, client_duration, bidi_duration;
    String => unary_string_value, server_string_value, client_string_value, bidi_string_value;
    Vec<u8> => unary_bytes_value, server_bytes_value, client_bytes_value, bidi_bytes_value;
    bool => unary_bool_value, server_bool_value, client_bool_value, bidi_bool_value;
    f64 => unary_double_value, server_double_value, client_double_value, bidi_double_value;
    f32 => unary_float_value, server_float_value, client_float_value, bidi_float_value;
    i32 => unary_int32_value, server_int32_value, client_int32_value, bidi_int32_value;
    i64 => unary_int64_value, server_int64_value, client_int64_value, bidi_int64_value;
    u32 => unary_u_int32_value, server_u_int32_value, client_u_int32_value, bidi_u_int32_value;
    u64 => unary_u_int64_value, server_u_int64_value, client_u_int64_value, bidi_u_int64_value;
    Any => unary_any, server_any, client_any, bidi_any;
    Struct => unary_struct, server_struct, client_struct, bidi_struct;
    Value => unary_value, server_value, client_value, bidi_value;
    ListValue => unary_list_value, server_list_value, client_list_value, bidi_list_value;
    FieldMask => unary_field_mask, server_field_mask, client_field_mask, bidi_field_mask;
}

/// Two values of each type, the second not the default, so a reply that lost its content
/// shows.
mod samples {
    use super::*;
    use tern::codegen::prost::Message as _;

    fn string(s: &str) -> Value {
        Value {
            kind: Some(Kind::StringValue(s.to_owned())),
        }
    }

    pub(super) fn unary_empty() -> ((), ()) {
        ((), ())
    }
    pub(super) fn unary_timestamp() -> (Timestamp, Timestamp) {
        let t = Timestamp {
            seconds: 1_700_000_000,
            nanos: 123_456_789,
        };
        (Timestamp::default(), t)
    }
    pub(super) fn unary_duration() -> (prost_types::Duration, prost_types::Duration) {
        let d = prost_types::Duration {
            seconds: -3,
            nanos: -500,
        };
        (prost_types::Duration::default(), d)
    }
    pub(super) fn unary_string_value() -> (String, String) {
        (String::new(), "héllo".to_owned())
    }
    pub(super) fn unary_bytes_value() -> (Vec<u8>, Vec<u8>) {
        (vec![], vec![0, 1, 2, 255])
    }
    pub(super) fn unary_bool_value() -> (bool, bool) {
        (false, true)
    }
    pub(super) fn unary_double_value() -> (f64, f64) {
        (0.0, -2.5e300)
    }
    pub(super) fn unary_float_value() -> (f32, f32) {
        (0.0, 1.5)
    }
    pub(super) fn unary_int32_value() -> (i32, i32) {
        (0, i32::MIN)
    }
    pub(super) fn unary_int64_value() -> (i64, i64) {
        (0, -(1 << 40))
    }
    pub(super) fn unary_u_int32_value() -> (u32, u32) {
        (0, u32::MAX)
    }
    pub(super) fn unary_u_int64_value() -> (u64, u64) {
        (0, u64::MAX)
    }
    pub(super) fn unary_any() -> (Any, Any) {
        let any = Any {
            type_url: "type.googleapis.com/google.protobuf.Duration".to_owned(),
            value: prost_types::Duration {
                seconds: 7,
                nanos: 0,
            }
            .encode_to_vec(),
        };
        (Any::default(), any)
    }
    pub(super) fn unary_struct() -> (Struct, Struct) {
        let mut s = Struct::default();
        s.fields.insert("name".to_owned(), string("tern"));
        s.fields.insert(
            "n".to_owned(),
            Value {
                kind: Some(Kind::NumberValue(3.0)),
            },
        );
        (Struct::default(), s)
    }
    pub(super) fn unary_value() -> (Value, Value) {
        let list = Value {
            kind: Some(Kind::ListValue(ListValue {
                values: vec![
                    string("a"),
                    Value {
                        kind: Some(Kind::NullValue(0)),
                    },
                ],
            })),
        };
        (Value::default(), list)
    }
    pub(super) fn unary_list_value() -> (ListValue, ListValue) {
        let list = ListValue {
            values: vec![
                Value {
                    kind: Some(Kind::BoolValue(true)),
                },
                string("b"),
            ],
        };
        (ListValue::default(), list)
    }
    pub(super) fn unary_field_mask() -> (FieldMask, FieldMask) {
        let mask = FieldMask {
            paths: vec!["user.name".to_owned(), "user.age".to_owned()],
        };
        (FieldMask::default(), mask)
    }
}

/// Different well-known types in and out.
struct Clock;

impl Mixed for Clock {
    async fn now(&self, _: Request<()>) -> Result<Response<Timestamp>, Status> {
        Ok(Response::new(Timestamp {
            seconds: 42,
            nanos: 0,
        }))
    }

    async fn store(&self, request: Request<Struct>) -> Result<Response<()>, Status> {
        if request.into_inner().fields.contains_key("key") {
            Ok(Response::new(()))
        } else {
            Err(Status::invalid_argument("no key"))
        }
    }

    async fn paths(
        &self,
        request: Request<FieldMask>,
    ) -> Result<Response<impl Stream<Item = Result<String, Status>> + Send>, Status> {
        Ok(Response::new(Iter::new(
            request.into_inner().paths.into_iter().map(Ok),
        )))
    }
}

#[tokio::test]
async fn different_types_in_and_out() {
    let client = MixedClient::new(tern_codegen_tests::serve(MixedServer::new(Clock)).await);
    assert_eq!(client.now(()).await.unwrap().into_inner().seconds, 42);

    let mut document = Struct::default();
    document.fields.insert("key".to_owned(), Value::default());
    client.store(document).await.unwrap();
    let status = client.store(Struct::default()).await.unwrap_err();
    assert_eq!(status.message(), "no key");

    let mask = FieldMask {
        paths: vec!["a".to_owned(), "b.c".to_owned()],
    };
    let mut paths = client.paths(mask).await.unwrap().into_inner();
    let mut got = Vec::new();
    while let Some(path) = paths.message().await.unwrap() {
        got.push(path);
    }
    assert_eq!(got, ["a", "b.c"]);
}

/// With `compile_well_known_types`, google.protobuf's messages are generated into the crate:
/// Empty is a struct there, and the service uses it.
#[tokio::test]
async fn compiled_well_known_types_are_the_crate_s_own() {
    use tern_codegen_tests::wkt_compiled::google::protobuf::{Empty, Timestamp};
    use tern_codegen_tests::wkt_compiled::wkt::mixed_client::MixedClient;
    use tern_codegen_tests::wkt_compiled::wkt::mixed_server::{Mixed, MixedServer};

    struct Local;
    impl Mixed for Local {
        async fn now(&self, _: Request<Empty>) -> Result<Response<Timestamp>, Status> {
            Ok(Response::new(Timestamp {
                seconds: 7,
                nanos: 1,
            }))
        }
        async fn store(
            &self,
            _: Request<tern_codegen_tests::wkt_compiled::google::protobuf::Struct>,
        ) -> Result<Response<Empty>, Status> {
            Ok(Response::new(Empty {}))
        }
        async fn paths(
            &self,
            _: Request<tern_codegen_tests::wkt_compiled::google::protobuf::FieldMask>,
        ) -> Result<
            Response<
                impl Stream<
                        Item = Result<
                            tern_codegen_tests::wkt_compiled::google::protobuf::StringValue,
                            Status,
                        >,
                    > + Send,
            >,
            Status,
        > {
            Ok(Response::new(Iter::new([])))
        }
    }
    let client = MixedClient::new(tern_codegen_tests::serve(MixedServer::new(Local)).await);
    let now = client.now(Empty {}).await.unwrap().into_inner();
    assert_eq!((now.seconds, now.nanos), (7, 1));
}
