//! [`Builder`]: the settings of one code generation run, and the run itself: protox parses,
//! prost-build writes the messages, [`crate::service`] the services, [`crate::output`] the files.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use prost::Message as _;
use prost_build::Module;

use crate::error::{Error, ErrorKind};
use crate::{output, service, DESCRIPTOR_SET_FILE};

/// Code generation settings, from [`configure()`](crate::configure).
///
/// ```no_run
/// // build.rs
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     tern_build::configure()
///         .build_client(false)
///         .type_attribute(".shop", "#[derive(serde::Serialize)]")
///         .compile(&["proto/shop/v1/shop.proto"], &["proto"])?;
///     Ok(())
/// }
/// ```
#[derive(Clone, Debug)]
pub struct Builder {
    build_server: bool,
    build_client: bool,
    out_dir: Option<PathBuf>,
    file_descriptor_set_path: Option<PathBuf>,
    emit_rerun_if_changed: bool,
    compile_well_known_types: bool,
    extern_paths: Vec<(String, String)>,
    type_attributes: Vec<(String, String)>,
    message_attributes: Vec<(String, String)>,
    enum_attributes: Vec<(String, String)>,
    field_attributes: Vec<(String, String)>,
    bytes: Vec<String>,
    btree_map: Vec<String>,
    boxed: Vec<String>,
}

impl Default for Builder {
    fn default() -> Builder {
        Builder {
            build_server: true,
            build_client: true,
            out_dir: None,
            file_descriptor_set_path: None,
            emit_rerun_if_changed: true,
            compile_well_known_types: false,
            extern_paths: Vec::new(),
            type_attributes: Vec::new(),
            message_attributes: Vec::new(),
            enum_attributes: Vec::new(),
            field_attributes: Vec::new(),
            bytes: Vec::new(),
            btree_map: Vec::new(),
            boxed: Vec::new(),
        }
    }
}

impl Builder {
    /// Whether to generate server traits and wrappers (default true).
    ///
    /// ```no_run
    /// // A crate that only calls the service.
    /// tern_build::configure().build_server(false).compile(&["api.proto"], &["."])?;
    /// # Ok::<(), tern_build::Error>(())
    /// ```
    pub fn build_server(mut self, enable: bool) -> Builder {
        self.build_server = enable;
        self
    }

    /// Whether to generate clients (default true).
    ///
    /// ```no_run
    /// // A crate that only serves it.
    /// tern_build::configure().build_client(false).compile(&["api.proto"], &["."])?;
    /// # Ok::<(), tern_build::Error>(())
    /// ```
    pub fn build_client(mut self, enable: bool) -> Builder {
        self.build_client = enable;
        self
    }

    /// Where to write the `.rs` files (default `$OUT_DIR`): one per package, named after it
    /// (`google.logging.type.rs`), and [`INCLUDE_FILE`](crate::INCLUDE_FILE) nesting them all.
    ///
    /// ```no_run
    /// tern_build::configure()
    ///     .out_dir("src/generated")
    ///     .emit_rerun_if_changed(false)
    ///     .compile(&["api.proto"], &["."])?;
    /// # Ok::<(), tern_build::Error>(())
    /// ```
    pub fn out_dir(mut self, dir: impl Into<PathBuf>) -> Builder {
        self.out_dir = Some(dir.into());
        self
    }

    /// Writes the encoded `FileDescriptorSet` of the compiled files and their imports, with
    /// their comments (`source_code_info`), here instead of `$OUT_DIR/tern_descriptor_set.bin`
    /// (where `tern::include_descriptor_set!()` finds it).
    ///
    /// ```no_run
    /// let out = std::path::PathBuf::from(std::env::var("OUT_DIR").unwrap());
    /// tern_build::configure()
    ///     .file_descriptor_set_path(out.join("api_descriptors.bin"))
    ///     .compile(&["api.proto"], &["."])?;
    /// # Ok::<(), tern_build::Error>(())
    /// ```
    pub fn file_descriptor_set_path(mut self, path: impl Into<PathBuf>) -> Builder {
        self.file_descriptor_set_path = Some(path.into());
        self
    }

    /// Whether to print `cargo:rerun-if-changed` for every `.proto` file read, imports included
    /// (default true; turn it off outside `build.rs`).
    ///
    /// ```no_run
    /// tern_build::configure()
    ///     .emit_rerun_if_changed(false)
    ///     .out_dir("generated")
    ///     .compile(&["api.proto"], &["."])?;
    /// # Ok::<(), tern_build::Error>(())
    /// ```
    pub fn emit_rerun_if_changed(mut self, enable: bool) -> Builder {
        self.emit_rerun_if_changed = enable;
        self
    }

    /// Uses Rust types from elsewhere for the proto types under `proto_path` (a package or a
    /// type, fully qualified with a leading dot) instead of generating them: the messages of
    /// another crate, say. Types below `proto_path` are found below `rust_path` as prost-build
    /// would have named them.
    ///
    /// ```no_run
    /// // `common` compiled `.acme.common` into its module `common::acme`.
    /// tern_build::configure()
    ///     .extern_path(".acme.common", "::common::acme::common")
    ///     .compile(&["acme/orders.proto"], &["proto"])?;
    /// # Ok::<(), tern_build::Error>(())
    /// ```
    ///
    /// `google.protobuf` is always extern (unless [`Builder::compile_well_known_types`]): its
    /// messages are `::tern::codegen::prost_types::Timestamp` and so on, re-exported by `tern`
    /// so a crate needs no `prost-types` dependency of its own; as prost does, `Empty` is `()`
    /// and the wrappers are their Rust values (`StringValue` is `String`, `Int64Value` is `i64`).
    pub fn extern_path(
        mut self,
        proto_path: impl Into<String>,
        rust_path: impl Into<String>,
    ) -> Builder {
        self.extern_paths
            .push((proto_path.into(), rust_path.into()));
        self
    }

    /// Adds an attribute to the messages and enums matching `path` (`.` for all, `.pkg` for a
    /// package, `.pkg.Msg` for one type; see prost-build's `Config::type_attribute`).
    ///
    /// ```no_run
    /// tern_build::configure()
    ///     .type_attribute(".", "#[derive(serde::Serialize, serde::Deserialize)]")
    ///     .compile(&["api.proto"], &["."])?;
    /// # Ok::<(), tern_build::Error>(())
    /// ```
    pub fn type_attribute(
        mut self,
        path: impl Into<String>,
        attribute: impl Into<String>,
    ) -> Builder {
        self.type_attributes.push((path.into(), attribute.into()));
        self
    }

    /// Adds an attribute to the messages (not enums) matching `path`.
    ///
    /// ```no_run
    /// tern_build::configure()
    ///     .message_attribute(".api.Config", "#[derive(Eq, Hash)]")
    ///     .compile(&["api.proto"], &["."])?;
    /// # Ok::<(), tern_build::Error>(())
    /// ```
    pub fn message_attribute(
        mut self,
        path: impl Into<String>,
        attribute: impl Into<String>,
    ) -> Builder {
        self.message_attributes
            .push((path.into(), attribute.into()));
        self
    }

    /// Adds an attribute to the enums matching `path`.
    ///
    /// ```no_run
    /// tern_build::configure()
    ///     .enum_attribute(".api.Color", "#[allow(clippy::enum_variant_names)]")
    ///     .compile(&["api.proto"], &["."])?;
    /// # Ok::<(), tern_build::Error>(())
    /// ```
    pub fn enum_attribute(
        mut self,
        path: impl Into<String>,
        attribute: impl Into<String>,
    ) -> Builder {
        self.enum_attributes.push((path.into(), attribute.into()));
        self
    }

    /// Adds an attribute to the fields matching `path` (`.pkg.Msg.field`).
    ///
    /// ```no_run
    /// tern_build::configure()
    ///     .type_attribute(".api.User", "#[derive(serde::Serialize)]")
    ///     .field_attribute(".api.User.password", "#[serde(skip)]")
    ///     .compile(&["api.proto"], &["."])?;
    /// # Ok::<(), tern_build::Error>(())
    /// ```
    pub fn field_attribute(
        mut self,
        path: impl Into<String>,
        attribute: impl Into<String>,
    ) -> Builder {
        self.field_attributes.push((path.into(), attribute.into()));
        self
    }

    /// Makes the `bytes` fields matching these paths `bytes::Bytes` instead of `Vec<u8>`, so
    /// a large payload is shared rather than copied. The generated code names the type through
    /// `tern` (`::tern::codegen::prost::bytes::Bytes`, the `bytes` crate's `Bytes`), so no
    /// extra dependency is needed to compile it; add `bytes` to build or read such values.
    ///
    /// ```no_run
    /// tern_build::configure()
    ///     .bytes([".storage.Blob.data"])
    ///     .compile(&["storage.proto"], &["."])?;
    /// # Ok::<(), tern_build::Error>(())
    /// ```
    pub fn bytes<I, S>(mut self, paths: I) -> Builder
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.bytes.extend(paths.into_iter().map(Into::into));
        self
    }

    /// Makes the `map` fields matching these paths `BTreeMap`s instead of `HashMap`s (ordered,
    /// so their debug output and iteration are deterministic).
    ///
    /// ```no_run
    /// tern_build::configure()
    ///     .btree_map(["."])
    ///     .compile(&["api.proto"], &["."])?;
    /// # Ok::<(), tern_build::Error>(())
    /// ```
    pub fn btree_map<I, S>(mut self, paths: I) -> Builder
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.btree_map.extend(paths.into_iter().map(Into::into));
        self
    }

    /// Boxes the message fields matching `path` (for large messages held in enums).
    ///
    /// ```no_run
    /// tern_build::configure()
    ///     .boxed(".api.Tree.left")
    ///     .compile(&["api.proto"], &["."])?;
    /// # Ok::<(), tern_build::Error>(())
    /// ```
    pub fn boxed(mut self, path: impl Into<String>) -> Builder {
        self.boxed.push(path.into());
        self
    }

    /// Generates `google.protobuf`'s messages into the crate (module `google::protobuf`)
    /// instead of using `prost-types`' (default false). `Empty` is then a struct, not `()`.
    /// Only useful to put attributes on them.
    ///
    /// ```no_run
    /// tern_build::configure()
    ///     .compile_well_known_types(true)
    ///     .type_attribute(".google.protobuf.Timestamp", "#[derive(Eq, Hash)]")
    ///     .compile(&["api.proto"], &["."])?;
    /// # Ok::<(), tern_build::Error>(())
    /// ```
    pub fn compile_well_known_types(mut self, enable: bool) -> Builder {
        self.compile_well_known_types = enable;
        self
    }

    /// Parses `protos` (imports looked up in `includes`; `google/protobuf/*.proto` need no
    /// include directory) and writes one `.rs` file per package, the include tree and the
    /// descriptor set.
    ///
    /// An invalid `.proto` is an [`Error`] naming its file, line and column; nothing panics.
    pub fn compile(
        self,
        protos: &[impl AsRef<Path>],
        includes: &[impl AsRef<Path>],
    ) -> Result<(), Error> {
        let mut compiler = protox::Compiler::with_file_resolver(resolver(includes));
        compiler.include_imports(true).include_source_info(true);
        compiler
            .open_files(protos.iter().map(AsRef::as_ref))
            .map_err(|e| Error::from_protox(&e))?;
        if self.emit_rerun_if_changed {
            for file in compiler.files() {
                if let Some(path) = file.path() {
                    println!("cargo:rerun-if-changed={}", path.display());
                }
            }
        }
        let files = compiler.file_descriptor_set();
        let out_dir = match &self.out_dir {
            Some(dir) => dir.clone(),
            None => std::env::var_os("OUT_DIR")
                .map(PathBuf::from)
                .ok_or_else(|| {
                    Error::config("OUT_DIR is not set: call from build.rs or set out_dir")
                })?,
        };
        std::fs::create_dir_all(&out_dir).map_err(|e| Error::io("create", &out_dir, e))?;
        // The descriptors of the compiled files and their imports, comments included, for
        // server reflection: `tern::include_descriptor_set!()` embeds the default one.
        let descriptor_set = self
            .file_descriptor_set_path
            .clone()
            .unwrap_or_else(|| out_dir.join(DESCRIPTOR_SET_FILE));
        std::fs::write(&descriptor_set, files.encode_to_vec())
            .map_err(|e| Error::io("write", &descriptor_set, e))?;
        self.generate(files, &out_dir)
    }

    /// prost-build's configuration for these settings, with Tern's service generator.
    fn prost_config(&self, problems: Rc<RefCell<Vec<(ErrorKind, String)>>>) -> prost_build::Config {
        let mut config = prost_build::Config::new();
        // Generated code reaches prost through tern, so users depend on tern alone.
        config
            .prost_path("::tern::codegen::prost")
            .prost_types_path("::tern::codegen::prost_types")
            // Formatted here, so that code that does not parse is an error, not a panic.
            .format(false);
        for (proto, rust) in &self.extern_paths {
            config.extern_path(proto, rust);
        }
        for (path, attribute) in &self.type_attributes {
            config.type_attribute(path, attribute);
        }
        for (path, attribute) in &self.message_attributes {
            config.message_attribute(path, attribute);
        }
        for (path, attribute) in &self.enum_attributes {
            config.enum_attribute(path, attribute);
        }
        for (path, attribute) in &self.field_attributes {
            config.field_attribute(path, attribute);
        }
        config.bytes(&self.bytes).btree_map(&self.btree_map);
        for path in &self.boxed {
            config.boxed(path);
        }
        let mut extern_paths: Vec<String> = self
            .extern_paths
            .iter()
            .map(|(proto, _)| proto.clone())
            .collect();
        if self.compile_well_known_types {
            config.compile_well_known_types();
        } else {
            extern_paths.push(".google.protobuf".to_owned());
        }
        config.service_generator(Box::new(service::Generator {
            build_server: self.build_server,
            build_client: self.build_client,
            extern_paths,
            problems,
        }));
        config
    }

    /// Generates, formats and writes the code of every package in `files`.
    fn generate(&self, files: prost_types::FileDescriptorSet, out_dir: &Path) -> Result<(), Error> {
        // For each Rust module, the package as the .proto spells it (which names its file) and
        // the files that make it up (which name it in errors).
        let mut packages: BTreeMap<Module, (String, Vec<String>)> = BTreeMap::new();
        let requests: Vec<(Module, prost_types::FileDescriptorProto)> = files
            .file
            .into_iter()
            .map(|file| {
                let module = Module::from_protobuf_package_name(file.package());
                packages
                    .entry(module.clone())
                    .or_insert_with(|| (file.package().to_owned(), Vec::new()))
                    .1
                    .push(file.name().to_owned());
                (module, file)
            })
            .collect();
        let problems = Rc::new(RefCell::new(Vec::new()));
        let mut config = self.prost_config(Rc::clone(&problems));
        // prost-build panics on what it cannot handle; the root causes known are avoided above
        // (service types, formatting), so this only turns a new one into an error.
        let generated = catch_unwind(AssertUnwindSafe(|| config.generate(requests)));
        let modules = match generated {
            Ok(Ok(modules)) => modules,
            // prost-build's only failure on parsed input: an invalid extern path.
            Ok(Err(e)) => return Err(Error::config(e.to_string())),
            Err(panic) => {
                let why = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                let names: Vec<&str> = packages
                    .values()
                    .flat_map(|(_, files)| files.iter().map(String::as_str))
                    .collect();
                return Err(Error::codegen(format!(
                    "prost-build panicked while generating code for {}: {why}",
                    list(&names)
                )));
            }
        };
        let problems = problems.take();
        if let Some((kind, _)) = problems.first() {
            return Err(Error::many(
                *kind,
                problems.into_iter().map(|(_, message)| message),
            ));
        }
        let mut tree = Vec::new();
        for (module, code) in &modules {
            let (package, names) = packages.get(module).ok_or_else(|| {
                Error::codegen(format!("prost-build made an unknown module {module}"))
            })?;
            let code = output::format(code).map_err(|e| {
                Error::codegen(format!(
                    "the code generated for package {package:?} ({}) does not parse: {e}; \
                     this is a bug in tern-build",
                    list(names)
                ))
            })?;
            let file = output::file_name(package);
            output::write_if_changed(&out_dir.join(&file), &code)?;
            tree.push((module, file));
        }
        let tree = tree
            .iter()
            .map(|(module, file)| (module_parts(module), file.clone()));
        let parts: Vec<(Vec<String>, String)> = tree.collect();
        let include = output::include_tree(parts.iter().map(|(m, f)| (&m[..], f.clone())));
        output::write_if_changed(&out_dir.join(output::INCLUDE_FILE), &include)
    }
}

/// Where protox looks for files: the well-known types first (`google/protobuf/any.proto`,
/// `descriptor.proto`...), then the include directories in order.
///
/// The well-known types come from protox's own copies even when an include directory has
/// others, as trees like googleapis do: their Rust types are always `prost-types`', which match
/// those copies, and a newer `descriptor.proto` may use syntax that protox does not parse yet
/// (`extensions 536000000 [declaration = {...}]`).
fn resolver(includes: &[impl AsRef<Path>]) -> protox::file::ChainFileResolver {
    use protox::file::{ChainFileResolver, GoogleFileResolver, IncludeFileResolver};
    let mut resolver = ChainFileResolver::new();
    resolver.add(GoogleFileResolver::new());
    for include in includes {
        resolver.add(IncludeFileResolver::new(include.as_ref().to_owned()));
    }
    resolver
}

fn module_parts(module: &Module) -> Vec<String> {
    module.parts().map(str::to_owned).collect()
}

/// Names for a message: all of them when few, else the first ones and a count.
fn list(names: &[impl AsRef<str>]) -> String {
    let shown: Vec<&str> = names.iter().take(5).map(AsRef::as_ref).collect();
    if names.len() > shown.len() {
        format!(
            "{} and {} more files",
            shown.join(", "),
            names.len() - shown.len()
        )
    } else {
        shown.join(", ")
    }
}
