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
//! and in the crate, one module per proto package:
//!
//! ```ignore
//! pub mod hello {
//!     tern::include_proto!("hello");
//! }
//! ```

#![warn(missing_docs)]

mod service;

use std::fmt;
use std::path::{Path, PathBuf};

pub use prost_build;

/// The file, in the output directory, that holds the encoded descriptors of what was compiled.
pub const DESCRIPTOR_SET_FILE: &str = "tern_descriptor_set.bin";

/// Why code generation failed.
#[derive(Debug)]
pub struct Error {
    message: String,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl Error {
    fn new(message: impl Into<String>) -> Error {
        Error {
            message: message.into(),
        }
    }
}

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
    Builder {
        build_server: true,
        build_client: true,
        out_dir: None,
        file_descriptor_set_path: None,
        emit_rerun_if_changed: true,
    }
}

/// Code generation settings.
#[derive(Clone, Debug)]
pub struct Builder {
    build_server: bool,
    build_client: bool,
    out_dir: Option<PathBuf>,
    file_descriptor_set_path: Option<PathBuf>,
    emit_rerun_if_changed: bool,
}

impl Builder {
    /// Whether to generate server traits and wrappers (default true).
    pub fn build_server(mut self, enable: bool) -> Builder {
        self.build_server = enable;
        self
    }

    /// Whether to generate clients (default true).
    pub fn build_client(mut self, enable: bool) -> Builder {
        self.build_client = enable;
        self
    }

    /// Where to write the `.rs` files (default `$OUT_DIR`).
    pub fn out_dir(mut self, dir: impl Into<PathBuf>) -> Builder {
        self.out_dir = Some(dir.into());
        self
    }

    /// Writes the encoded `FileDescriptorSet` of the compiled files and their imports here,
    /// instead of `$OUT_DIR/tern_descriptor_set.bin` (where `tern::include_descriptor_set!()`
    /// finds it).
    pub fn file_descriptor_set_path(mut self, path: impl Into<PathBuf>) -> Builder {
        self.file_descriptor_set_path = Some(path.into());
        self
    }

    /// Whether to print `cargo:rerun-if-changed` lines for the inputs (default true; turn off
    /// outside `build.rs`).
    pub fn emit_rerun_if_changed(mut self, enable: bool) -> Builder {
        self.emit_rerun_if_changed = enable;
        self
    }

    /// Parses `protos` (imports looked up in `includes`) and writes one `.rs` file per package.
    pub fn compile(
        self,
        protos: &[impl AsRef<Path>],
        includes: &[impl AsRef<Path>],
    ) -> Result<(), Error> {
        let files = protox::compile(protos, includes).map_err(|e| Error::new(format!("{e:?}")))?;
        if self.emit_rerun_if_changed {
            for path in protos.iter().map(AsRef::as_ref) {
                println!("cargo:rerun-if-changed={}", path.display());
            }
            for path in includes.iter().map(AsRef::as_ref) {
                println!("cargo:rerun-if-changed={}", path.display());
            }
        }
        let out_dir = match self.out_dir {
            Some(dir) => dir,
            None => std::env::var_os("OUT_DIR")
                .map(PathBuf::from)
                .ok_or_else(|| {
                    Error::new("OUT_DIR is not set: call from build.rs or set out_dir")
                })?,
        };
        std::fs::create_dir_all(&out_dir)
            .map_err(|e| Error::new(format!("cannot create {}: {e}", out_dir.display())))?;
        // The descriptors of the compiled files and their imports, for server reflection:
        // `tern::include_descriptor_set!()` embeds the default one.
        let descriptor_set = self
            .file_descriptor_set_path
            .clone()
            .unwrap_or_else(|| out_dir.join(DESCRIPTOR_SET_FILE));
        {
            use prost::Message as _;
            std::fs::write(&descriptor_set, files.encode_to_vec()).map_err(|e| {
                Error::new(format!("cannot write {}: {e}", descriptor_set.display()))
            })?;
        }
        let mut config = prost_build::Config::new();
        config
            .out_dir(&out_dir)
            // Generated code reaches prost through tern, so users depend on tern alone.
            .prost_path("::tern::codegen::prost")
            .prost_types_path("::tern::codegen::prost_types")
            .service_generator(Box::new(service::Generator {
                build_server: self.build_server,
                build_client: self.build_client,
            }));
        config
            .compile_fds(files)
            .map_err(|e| Error::new(format!("code generation failed: {e}")))
    }
}
