//! Standard gRPC services a Tern server can turn on with one line: health checking
//! (`grpc.health.v1.Health`), server reflection (`grpc.reflection.v1` and `v1alpha`) and channelz
//! (`grpc.channelz.v1`); [`Router::with_admin`](crate::server::Router::with_admin) turns on all three. Their code is generated from the `.proto` files in `proto/` by
//! `cargo run -p tern-build --example generate` and checked in, so `tern` needs no build script.

pub mod channelz;
pub mod health;
pub mod reflection;
