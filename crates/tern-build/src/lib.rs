//! `.proto` files to Rust, with no `protoc`: protox parses them in pure Rust, prost-build writes
//! the messages and enums, and Tern writes each service's server trait, server wrapper and client.
//!
//! In `build.rs`:
//!
//! ```no_run
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     tern_build::compile_protos(&["proto/hello.proto"], &["proto"])?;
//!     Ok(())
//! }
//! ```
//!
//! and in the crate, every compiled package as nested modules (`google.logging.type` becomes
//! `google::logging::r#type`, imports included):
//!
//! ```ignore
//! tern::include_protos!();
//! ```
//!
//! or one package at a time, in a module of your choosing (the name as the `.proto` spells it):
//!
//! ```ignore
//! pub mod hello {
//!     tern::include_proto!("hello");
//! }
//! ```
//!
//! # What is generated
//!
//! - Per package, one file `PACKAGE.rs` (`_.rs` for no package): prost's messages and enums, and
//!   for each service `Foo` a module `foo_server` (trait `Foo` with one `async fn` per method,
//!   wrapper `FooServer`) and a module `foo_client` (`FooClient`).
//! - [`INCLUDE_FILE`], nesting every package as a module, for `tern::include_protos!()`.
//! - [`DESCRIPTOR_SET_FILE`], the descriptors with their comments, for
//!   `tern::include_descriptor_set!()` and server reflection.
//!
//! Well-known types are `prost-types`' (reached through `tern`, as is prost): a method may take
//! or return any of them, `google.protobuf.Empty` being `()`, the wrappers their Rust values
//! (`StringValue` is `String`, `Int64Value` is `i64`). Names that are Rust keywords become raw
//! identifiers (`r#type`, `r#async`) or take a `_` (`Self_`, `self_`), as prost-build names them;
//! the names on the wire stay those of the `.proto`. An rpc whose name is one the client defines
//! itself (`Connect`, `New`) is `connect_rpc` / `new_rpc` in the client.
//!
//! # Errors
//!
//! An invalid `.proto` (a syntax error, an unknown type, a missing import, a name defined
//! twice) is an [`Error`] whose `Display` says where, as compilers do, one problem a line:
//!
//! ```text
//! api.proto:7:3: name 'Reply' is not defined
//! ```
//!
//! Settings are on [`Builder`], from [`configure()`]: which sides to build, the output
//! directory, extern paths, attributes, `bytes::Bytes` and `BTreeMap` fields.

#![warn(missing_docs)]

mod builder;
mod error;
mod output;
mod service;

use std::path::Path;

pub use builder::Builder;
pub use error::{Error, ErrorKind, Problem};
pub use output::INCLUDE_FILE;
pub use prost_build;

/// The file, in the output directory, that holds the encoded descriptors of what was compiled.
pub const DESCRIPTOR_SET_FILE: &str = "tern_descriptor_set.bin";

/// Compiles `protos`, looking up imports in `includes`, into `$OUT_DIR` with default settings:
/// messages, server traits and clients.
pub fn compile_protos(
    protos: &[impl AsRef<Path>],
    includes: &[impl AsRef<Path>],
) -> Result<(), Error> {
    configure().compile(protos, includes)
}

/// A builder for settings beyond the defaults.
pub fn configure() -> Builder {
    Builder::default()
}
