//! Rust keywords as names, packages nested and referring to each other, messages from another
//! crate, proto2 groups and extensions, and the builder's options, all served and called.

use futures_core::Stream;
use tern::codegen::{PathAndQuery, ProstCodec};
use tern::{Request, Response, Status, Streaming};
use tern_codegen_tests::streams::Iter;

mod keywords {
    use super::*;
    use tern_codegen_tests::r#type::r#match::self_client::SelfClient;
    use tern_codegen_tests::r#type::r#match::self_server::{SelfServer, Self_};
    use tern_codegen_tests::r#type::r#match::{r#struct, Enum, Struct};
    use tern_codegen_tests::r#type::{Base, Self_ as SelfMessage};

    struct Keywords;

    /// Counts the messages of a stream into `async`.
    async fn count(request: Request<Streaming<Struct>>) -> Result<Struct, Status> {
        let mut stream = request.into_inner();
        let mut n = 0;
        while stream.message().await?.is_some() {
            n += 1;
        }
        Ok(Struct {
            r#async: n,
            ..Struct::default()
        })
    }

    impl Self_ for Keywords {
        async fn r#move(&self, request: Request<Struct>) -> Result<Response<Struct>, Status> {
            let mut s = request.into_inner();
            s.r#type = format!("moved {}", s.r#type);
            s.r#ref.push("r".to_owned());
            Ok(Response::new(s))
        }
        async fn r#async(
            &self,
            request: Request<Struct>,
        ) -> Result<Response<impl Stream<Item = Result<Struct, Status>> + Send>, Status> {
            let s = request.into_inner();
            Ok(Response::new(Iter::new([Ok(s.clone()), Ok(s)])))
        }
        async fn r#await(
            &self,
            request: Request<Streaming<Struct>>,
        ) -> Result<Response<Struct>, Status> {
            count(request).await.map(Response::new)
        }
        async fn r#ref(
            &self,
            request: Request<Streaming<Struct>>,
        ) -> Result<Response<impl Stream<Item = Result<Struct, Status>> + Send>, Status> {
            Ok(Response::new(request.into_inner()))
        }
        async fn r#type(
            &self,
            request: Request<SelfMessage>,
        ) -> Result<Response<SelfMessage>, Status> {
            let mut s = request.into_inner();
            s.super_ = "type".to_owned();
            Ok(Response::new(s))
        }
        async fn self_(
            &self,
            request: Request<SelfMessage>,
        ) -> Result<Response<SelfMessage>, Status> {
            let mut s = request.into_inner();
            s.super_ = "self".to_owned();
            Ok(Response::new(s))
        }
        async fn connect(
            &self,
            request: Request<SelfMessage>,
        ) -> Result<Response<SelfMessage>, Status> {
            let mut s = request.into_inner();
            s.super_ = "connect".to_owned();
            Ok(Response::new(s))
        }
        async fn new(
            &self,
            request: Request<SelfMessage>,
        ) -> Result<Response<SelfMessage>, Status> {
            let mut s = request.into_inner();
            s.super_ = "new".to_owned();
            Ok(Response::new(s))
        }
    }

    #[tokio::test]
    async fn keyword_names_compile_and_keep_their_wire_names() {
        assert_eq!(
            <SelfServer<Keywords> as tern::codegen::Service>::NAME,
            "type.match.Self"
        );
        let channel = tern_codegen_tests::serve(SelfServer::new(Keywords)).await;
        let client = SelfClient::new(channel.clone());
        let message = Struct {
            r#type: "t".to_owned(),
            r#async: 1,
            self_: true,
            r#fn: "f".to_owned(),
            r#ref: vec![],
            base: Some(Base {
                r#impl: "i".to_owned(),
            }),
            r#enum: Enum::Self_ as i32,
            r#match: Some(r#struct::Match::Loop("l".to_owned())),
        };
        let moved = client.r#move(message.clone()).await.unwrap().into_inner();
        assert_eq!(moved.r#type, "moved t");
        assert_eq!(moved.r#ref, ["r"]);
        assert_eq!(moved.base, message.base);
        assert_eq!(moved.r#match, message.r#match);
        assert_eq!(moved.r#enum(), Enum::Self_);

        let mut twice = client.r#async(message.clone()).await.unwrap().into_inner();
        assert_eq!(twice.message().await.unwrap(), Some(message.clone()));
        assert_eq!(twice.message().await.unwrap(), Some(message.clone()));
        assert_eq!(twice.message().await.unwrap(), None);

        let counted = client
            .r#await(Iter::new([
                message.clone(),
                message.clone(),
                message.clone(),
            ]))
            .await
            .unwrap();
        assert_eq!(counted.into_inner().r#async, 3);

        let mut echoed = client
            .r#ref(Iter::new([message.clone()]))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(echoed.message().await.unwrap(), Some(message.clone()));

        let me = SelfMessage {
            super_: String::new(),
            crate_: "c".to_owned(),
        };
        for (answer, expected) in [
            (client.r#type(me.clone()).await, "type"),
            (client.self_(me.clone()).await, "self"),
            (client.connect_rpc(me.clone()).await, "connect"),
            (client.new_rpc(me.clone()).await, "new"),
        ] {
            let answer = answer.unwrap().into_inner();
            assert_eq!(
                (answer.super_.as_str(), answer.crate_.as_str()),
                (expected, "c")
            );
        }

        // The server routes the .proto's names, not the Rust ones.
        let raw = tern::codegen::Client::new(channel);
        for (path, expected) in [
            ("/type.match.Self/type", "type"),
            ("/type.match.Self/self", "self"),
            ("/type.match.Self/Connect", "connect"),
        ] {
            let reply = raw
                .unary(
                    PathAndQuery::from_static(path),
                    Request::new(me.clone()),
                    ProstCodec::<SelfMessage, SelfMessage>::new(),
                )
                .await
                .unwrap();
            assert_eq!(reply.into_inner().super_, expected, "{path}");
        }
    }

    #[tokio::test]
    async fn a_service_named_after_a_raw_keyword() {
        use tern_codegen_tests::r#type::r#match::loop_client::LoopClient;
        use tern_codegen_tests::r#type::r#match::loop_server::{Loop, LoopServer};
        struct L;
        impl Loop for L {
            async fn r#fn(&self, request: Request<Base>) -> Result<Response<Base>, Status> {
                Ok(Response::new(request.into_inner()))
            }
        }
        assert_eq!(
            <LoopServer<L> as tern::codegen::Service>::NAME,
            "type.match.loop"
        );
        let client = LoopClient::new(tern_codegen_tests::serve(LoopServer::new(L)).await);
        let base = Base {
            r#impl: "x".to_owned(),
        };
        assert_eq!(client.r#fn(base.clone()).await.unwrap().into_inner(), base);
    }
}

mod packages {
    use super::*;
    use tern_codegen_tests::a::b::c::local::Inner;
    use tern_codegen_tests::a::b::c::uses_client::UsesClient;
    use tern_codegen_tests::a::b::c::uses_server::{Uses, UsesServer};
    use tern_codegen_tests::a::b::c::Local;
    use tern_codegen_tests::a::b::d::Msg;
    use tern_codegen_tests::a::Top;

    struct U;

    impl Uses for U {
        async fn unwrap(&self, request: Request<Msg>) -> Result<Response<Top>, Status> {
            request
                .into_inner()
                .top
                .map(Response::new)
                .ok_or_else(|| Status::invalid_argument("no top"))
        }
        async fn wrap(&self, request: Request<Local>) -> Result<Response<Local>, Status> {
            let mut local = request.into_inner();
            local.inner = Some(Inner {
                again: local.msg.clone(),
            });
            Ok(Response::new(local))
        }
    }

    #[tokio::test]
    async fn nested_packages_refer_to_each_other() {
        let client = UsesClient::new(tern_codegen_tests::serve(UsesServer::new(U)).await);
        let top = Top {
            name: "top".to_owned(),
        };
        let msg = Msg {
            top: Some(top.clone()),
            n: 4,
        };
        assert_eq!(client.unwrap(msg.clone()).await.unwrap().into_inner(), top);
        let local = client
            .wrap(Local {
                msg: Some(msg.clone()),
                top: Some(top),
                inner: None,
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(local.inner.and_then(|i| i.again), Some(msg));
    }

    #[tokio::test]
    async fn messages_from_another_crate() {
        use tern_codegen_other::acme::common::Money;
        use tern_codegen_tests::shop::orders::orders_client::OrdersClient;
        use tern_codegen_tests::shop::orders::orders_server::{Orders, OrdersServer};
        use tern_codegen_tests::shop::orders::Order;

        struct O;
        impl Orders for O {
            async fn total(&self, request: Request<Order>) -> Result<Response<Money>, Status> {
                Ok(Response::new(
                    request.into_inner().total.unwrap_or_default(),
                ))
            }
            async fn double(&self, request: Request<Money>) -> Result<Response<Money>, Status> {
                let mut money = request.into_inner();
                money.units *= 2;
                Ok(Response::new(money))
            }
        }
        let client = OrdersClient::new(tern_codegen_tests::serve(OrdersServer::new(O)).await);
        // The other crate's type, not a copy generated here.
        let money: Money = Money {
            currency: "EUR".to_owned(),
            units: 21,
        };
        let order = Order {
            id: "1".to_owned(),
            total: Some(money.clone()),
        };
        assert_eq!(client.total(order).await.unwrap().into_inner(), money);
        assert_eq!(client.double(money).await.unwrap().into_inner().units, 42);
    }
}

mod proto2 {
    use super::*;
    use tern_codegen_tests::legacy::legacy_client::LegacyClient;
    use tern_codegen_tests::legacy::legacy_server::{Legacy, LegacyServer};
    use tern_codegen_tests::legacy::with_group::{Item, Line};
    use tern_codegen_tests::legacy::{Base, Scoped, WithGroup};

    struct L;
    impl Legacy for L {
        async fn echo(&self, request: Request<WithGroup>) -> Result<Response<WithGroup>, Status> {
            Ok(Response::new(request.into_inner()))
        }
        async fn defaults(&self, request: Request<Base>) -> Result<Response<Base>, Status> {
            let base = request.into_inner();
            Ok(Response::new(Base {
                id: Some(format!("{}!", base.id())),
            }))
        }
    }

    #[tokio::test]
    async fn groups_and_defaults_round_trip_beside_extensions() {
        let client = LegacyClient::new(tern_codegen_tests::serve(LegacyServer::new(L)).await);
        let message = WithGroup {
            item: Some(Item {
                name: Some("n".to_owned()),
                count: Some(2),
            }),
            line: vec![Line { n: 1 }, Line { n: 2 }],
        };
        assert_eq!(
            client.echo(message.clone()).await.unwrap().into_inner(),
            message
        );
        // The default of an unset optional field is the .proto's.
        let reply = client
            .defaults(Base { id: None })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(reply.id(), "none!");
        // A message that declares an extension is generated as usual.
        assert_eq!(Scoped { n: Some(1) }.n(), 1);
    }
}

mod options {
    use super::*;
    use std::collections::{BTreeMap, HashMap};
    use tern::codegen::prost::bytes::Bytes;
    use tern_codegen_tests::opts::store_client::StoreClient;
    use tern_codegen_tests::opts::store_server::{Store, StoreServer};
    use tern_codegen_tests::opts::{Blob, Color, Tag, Tree};

    struct S;
    impl Store for S {
        async fn put(&self, request: Request<Blob>) -> Result<Response<Blob>, Status> {
            let mut blob = request.into_inner();
            blob.counts
                .insert("seen".to_owned(), blob.data.len() as i32);
            Ok(Response::new(blob))
        }
        async fn label(&self, request: Request<Tag>) -> Result<Response<Tag>, Status> {
            Ok(Response::new(request.into_inner()))
        }
    }

    #[tokio::test]
    async fn bytes_and_btree_map_fields() {
        let client = StoreClient::new(tern_codegen_tests::serve(StoreServer::new(S)).await);
        // The types are what the options asked for: Bytes and BTreeMap where configured, Vec
        // and HashMap elsewhere.
        let data: Bytes = Bytes::from_static(b"four");
        let counts: BTreeMap<String, i32> = BTreeMap::from([("b".to_owned(), 2)]);
        let plain: Vec<u8> = vec![1];
        let hashed: HashMap<String, i32> = HashMap::new();
        let blob = client
            .put(Blob {
                data,
                counts,
                plain,
                hashed,
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(&blob.data[..], b"four");
        assert_eq!(
            blob.counts.into_iter().collect::<Vec<_>>(),
            [("b".to_owned(), 2), ("seen".to_owned(), 4)]
        );
    }

    #[test]
    fn a_message_with_a_btree_map_still_debugs() {
        let blob = Blob {
            counts: BTreeMap::from([("k".to_owned(), 1)]),
            ..Blob::default()
        };
        let text = format!("{blob:?}");
        assert!(text.starts_with("Blob {"), "{text}");
        assert!(text.contains("\"k\": 1"), "{text}");
    }

    #[tokio::test]
    async fn type_field_message_and_enum_attributes() {
        let tag = Tag {
            name: "n".to_owned(),
            weight: 3,
            secret: "hidden".to_owned(),
            color: Color::Red as i32,
        };
        // type_attribute: Serialize; field_attribute: the secret is skipped.
        let json = serde_json::to_value(&tag).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"name": "n", "weight": 3, "color": 1})
        );
        // enum_attribute: the enum is Serialize too.
        assert_eq!(serde_json::to_value(Color::Red).unwrap(), "Red");
        // message_attribute: Ord.
        let mut tags = [
            Tag {
                weight: 9,
                ..tag.clone()
            },
            tag.clone(),
        ];
        tags.sort();
        assert_eq!(tags[0].weight, 3);

        let client = StoreClient::new(tern_codegen_tests::serve(StoreServer::new(S)).await);
        assert_eq!(client.label(tag.clone()).await.unwrap().into_inner(), tag);
    }

    #[test]
    fn boxed_fields() {
        let tree = Tree {
            left: Some(Box::new(Tree {
                left: None,
                value: 1,
            })),
            value: 2,
        };
        let left: Option<Box<Tree>> = tree.left;
        assert_eq!(left.map(|t| t.value), Some(1));
    }
}

mod sides {
    use super::*;

    struct P;
    impl tern_codegen_tests::server_only::sides::pinger_server::Pinger for P {
        async fn ping(
            &self,
            request: Request<tern_codegen_tests::server_only::sides::Ping>,
        ) -> Result<Response<tern_codegen_tests::server_only::sides::Ping>, Status> {
            let mut ping = request.into_inner();
            ping.n += 1;
            Ok(Response::new(ping))
        }
    }

    /// A client from the client-only build calls a server from the server-only build.
    #[tokio::test]
    async fn client_only_calls_server_only() {
        use tern_codegen_tests::client_only::sides::pinger_client::PingerClient;
        use tern_codegen_tests::client_only::sides::Ping;
        let server = tern_codegen_tests::server_only::sides::pinger_server::PingerServer::new(P);
        let client = PingerClient::new(tern_codegen_tests::serve(server).await);
        assert_eq!(client.ping(Ping { n: 1 }).await.unwrap().into_inner().n, 2);
    }

    /// Each side's build has that side's module only.
    #[test]
    fn each_build_has_only_its_side() {
        let out = env!("OUT_DIR");
        let client_only = std::fs::read_to_string(format!("{out}/client_only/sides.rs")).unwrap();
        let server_only = std::fs::read_to_string(format!("{out}/server_only/sides.rs")).unwrap();
        assert!(client_only.contains("pub mod pinger_client"));
        assert!(!client_only.contains("pub mod pinger_server"));
        assert!(server_only.contains("pub mod pinger_server"));
        assert!(!server_only.contains("pub mod pinger_client"));
    }
}
