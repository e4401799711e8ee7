//! Tern's generator for `service` blocks: for a service `Foo` it writes a module `foo_server` with
//! the trait `Foo` (one plain `async fn` per method) and the wrapper `FooServer` that routes calls
//! to it, and a module `foo_client` with `FooClient`.

use std::cell::RefCell;
use std::rc::Rc;

use heck::{ToSnakeCase, ToUpperCamelCase};
use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use crate::error::ErrorKind;

/// Tern's `ServiceGenerator` for prost-build. prost-build gives a generator no way to fail, so
/// what cannot be generated is recorded in `problems` and reported by the builder afterwards.
pub(crate) struct Generator {
    pub(crate) build_server: bool,
    pub(crate) build_client: bool,
    /// The proto paths (`.google.protobuf`, `.other.pkg`) whose Rust types live outside the
    /// generated module tree, so their Rust paths are taken as they are.
    pub(crate) extern_paths: Vec<String>,
    pub(crate) problems: Rc<RefCell<Vec<(ErrorKind, String)>>>,
}

impl prost_build::ServiceGenerator for Generator {
    fn generate(&mut self, service: prost_build::Service, buf: &mut String) {
        let methods = match self.methods(&service) {
            Ok(methods) => methods,
            Err(problem) => {
                self.problems.borrow_mut().push(problem);
                return;
            }
        };
        let mut tokens = TokenStream::new();
        if self.build_server {
            tokens.extend(server(&service, &methods));
        }
        if self.build_client {
            tokens.extend(client(&service, &methods));
        }
        buf.push_str(&tokens.to_string());
        buf.push('\n');
    }
}

/// `name` as a Rust identifier: raw (`r#type`) for a keyword, with `_` after the keywords that
/// cannot be raw (`self_`), as prost-build names fields and modules.
fn ident(name: &str) -> proc_macro2::Ident {
    match name {
        "_" | "super" | "self" | "Self" | "extern" | "crate" => format_ident!("{name}_"),
        _ if syn::parse_str::<syn::Ident>(name).is_ok() => format_ident!("{name}"),
        _ => format_ident!("r#{name}"),
    }
}

/// The names generated clients define themselves; an rpc with one of them gets `_rpc` after its
/// name in the client.
const CLIENT_OWN_METHODS: [&str; 5] = [
    "new",
    "connect",
    "max_decoding_message_size",
    "max_encoding_message_size",
    "send_compressed",
];

/// The `.proto` comments as doc attributes, escaped for rustdoc as prost-build escapes the
/// comments of messages (bare URLs, brackets).
fn docs(comments: &prost_build::Comments) -> TokenStream {
    let comments = prost_build::Comments {
        leading_detached: Vec::new(),
        ..comments.clone()
    };
    let mut text = String::new();
    comments.append_with_indent(0, &mut text);
    text.lines()
        .filter_map(|line| line.strip_prefix("///"))
        .map(|line| {
            let line = line.trim_end().to_owned();
            quote!(#[doc = #line])
        })
        .collect()
}

struct MethodParts {
    /// The method in the server trait.
    ident: proc_macro2::Ident,
    /// The method in the client: `ident`, unless the client has a method of that name.
    client_ident: proc_macro2::Ident,
    docs: TokenStream,
    input: TokenStream,
    output: TokenStream,
    path: String,
    proto_name: String,
    client_streaming: bool,
    server_streaming: bool,
}

impl Generator {
    /// A message type's Rust path as seen from inside the generated `foo_server` / `foo_client`
    /// module, one level below the package's module.
    fn message_type(
        &self,
        rust_path: &str,
        proto_type: &str,
    ) -> Result<TokenStream, (ErrorKind, String)> {
        let is_extern = self.extern_paths.iter().any(|prefix| {
            proto_type == prefix
                || proto_type
                    .strip_prefix(prefix.as_str())
                    .is_some_and(|rest| rest.starts_with('.'))
        });
        // prost-build resolves a local type relative to the package's module; an extern type
        // is an absolute path (`::prost_types::Timestamp`, `crate::x`, `other_crate::x`), a
        // primitive (`()` for Empty, `i64` for Int64Value) or, when the user gave one, a path
        // relative to the package's module (`super::x`).
        let relative =
            !is_extern || rust_path.starts_with("super::") || rust_path.starts_with("self::");
        let path = if relative {
            format!("super::{rust_path}")
        } else {
            rust_path.to_owned()
        };
        let parsed: syn::Type = syn::parse_str(&path).map_err(|e| {
            (
                ErrorKind::Config,
                format!("the Rust type `{path}` of {proto_type} is not a valid Rust type ({e})"),
            )
        })?;
        Ok(quote!(#parsed))
    }

    fn methods(
        &self,
        service: &prost_build::Service,
    ) -> Result<Vec<MethodParts>, (ErrorKind, String)> {
        let full_name = full_name(service);
        let mut parts: Vec<MethodParts> = Vec::with_capacity(service.methods.len());
        for m in &service.methods {
            let snake = m.proto_name.to_snake_case();
            if let Some(other) = parts.iter().find(|p| p.proto_name.to_snake_case() == snake) {
                return Err((
                    ErrorKind::Proto,
                    format!(
                        "service {full_name}: methods {} and {} both become `{snake}` in Rust",
                        other.proto_name, m.proto_name
                    ),
                ));
            }
            let client_ident = if CLIENT_OWN_METHODS.contains(&snake.as_str()) {
                format_ident!("{snake}_rpc")
            } else {
                ident(&snake)
            };
            let input = self
                .message_type(&m.input_type, &m.input_proto_type)
                .map_err(|(kind, e)| {
                    (
                        kind,
                        format!("service {full_name}, method {}: {e}", m.proto_name),
                    )
                })?;
            let output = self
                .message_type(&m.output_type, &m.output_proto_type)
                .map_err(|(kind, e)| {
                    (
                        kind,
                        format!("service {full_name}, method {}: {e}", m.proto_name),
                    )
                })?;
            parts.push(MethodParts {
                ident: ident(&snake),
                client_ident,
                docs: docs(&m.comments),
                input,
                output,
                path: format!("/{full_name}/{}", m.proto_name),
                proto_name: m.proto_name.clone(),
                client_streaming: m.client_streaming,
                server_streaming: m.server_streaming,
            });
        }
        Ok(parts)
    }
}

fn full_name(service: &prost_build::Service) -> String {
    if service.package.is_empty() {
        service.proto_name.clone()
    } else {
        format!("{}.{}", service.package, service.proto_name)
    }
}

/// The function of `tern::codegen` that drives a call of this shape.
fn shape(m: &MethodParts) -> TokenStream {
    match (m.client_streaming, m.server_streaming) {
        (false, false) => quote!(unary),
        (false, true) => quote!(server_streaming),
        (true, false) => quote!(client_streaming),
        (true, true) => quote!(streaming),
    }
}

fn server(service: &prost_build::Service, methods: &[MethodParts]) -> TokenStream {
    let module = format_ident!("{}_server", service.proto_name.to_snake_case());
    let trait_name = ident(&service.proto_name.to_upper_camel_case());
    let server_name = format_ident!("{}Server", service.proto_name.to_upper_camel_case());
    let service_docs = docs(&service.comments);
    let full_name = full_name(service);
    let wrapper_doc = format!(
        " Serves a [`{trait_name}`] implementation: hand it to `tern::Server::add_service`."
    );

    let signatures = methods.iter().map(|m| {
        let MethodParts {
            ident,
            docs,
            input,
            output,
            ..
        } = m;
        let request = if m.client_streaming {
            quote!(::tern::Request<::tern::Streaming<#input>>)
        } else {
            quote!(::tern::Request<#input>)
        };
        let response = if m.server_streaming {
            quote!(::tern::Response<impl ::tern::codegen::Stream<Item = ::core::result::Result<#output, ::tern::Status>> + Send>)
        } else {
            quote!(::tern::Response<#output>)
        };
        quote! {
            #docs
            fn #ident(&self, request: #request)
                -> impl ::tern::codegen::Future<Output = ::core::result::Result<#response, ::tern::Status>> + Send;
        }
    });

    let arms = methods.iter().map(|m| {
        let MethodParts {
            ident,
            input,
            output,
            proto_name,
            ..
        } = m;
        let shape = shape(m);
        // Called through the trait, so a method of the implementing type with the same name
        // cannot take its place.
        quote! {
            #proto_name => {
                let codec = ::tern::codegen::ProstCodec::<#output, #input>::new();
                ::tern::codegen::#shape(call, codec, |request| #trait_name::#ident(&self.inner, request)).await
            }
        }
    });

    let method_names = methods.iter().map(|m| &m.proto_name);

    quote! {
        /// Server side of the service: implement the trait, then serve it with the wrapper.
        // The methods are named by the .proto (`New`, `Next`, `IntoX`): clippy's naming lints
        // are the .proto author's concern, not the crate's.
        #[allow(clippy::wrong_self_convention, clippy::should_implement_trait)]
        pub mod #module {
            #service_docs
            pub trait #trait_name: Send + Sync + 'static {
                #(#signatures)*
            }

            #[doc = #wrapper_doc]
            #[derive(Debug)]
            pub struct #server_name<T> {
                inner: T,
                limits: ::tern::codegen::ServiceLimits,
            }

            impl<T: #trait_name> #server_name<T> {
                /// Wraps the implementation.
                pub fn new(inner: T) -> Self {
                    Self {
                        inner,
                        limits: ::tern::codegen::ServiceLimits::default(),
                    }
                }

                /// The largest request message this service accepts, over the server's limit.
                pub fn max_decoding_message_size(mut self, limit: usize) -> Self {
                    self.limits.max_decoding_message_size = Some(limit);
                    self
                }

                /// The largest response message this service sends, over the server's limit.
                pub fn max_encoding_message_size(mut self, limit: usize) -> Self {
                    self.limits.max_encoding_message_size = Some(limit);
                    self
                }

                /// The implementation.
                pub fn get_ref(&self) -> &T {
                    &self.inner
                }

                /// This service with an interceptor of its own, run on its calls after the
                /// server's.
                pub fn intercept(
                    self,
                    interceptor: impl ::tern::interceptor::ServerInterceptor,
                ) -> ::tern::server::Intercepted<Self> {
                    ::tern::codegen::Service::intercept(self, interceptor)
                }
            }

            impl<T: #trait_name> ::tern::codegen::Service for #server_name<T> {
                const NAME: &'static str = #full_name;
                const METHODS: &'static [&'static str] = &[#(#method_names),*];

                async fn call(&self, method: &str, call: ::tern::codegen::ServerCall) {
                    let call = call.with_limits(&self.limits);
                    match method {
                        #(#arms)*
                        _ => call.unimplemented(Self::NAME, method),
                    }
                }
            }
        }
    }
}

fn client(service: &prost_build::Service, methods: &[MethodParts]) -> TokenStream {
    let module = format_ident!("{}_client", service.proto_name.to_snake_case());
    let client_name = format_ident!("{}Client", service.proto_name.to_upper_camel_case());
    let service_docs = docs(&service.comments);
    let methods = methods.iter().map(|m| {
        let MethodParts {
            client_ident: ident,
            docs,
            input,
            output,
            path,
            ..
        } = m;
        let renamed = (m.client_ident != m.ident).then(|| {
            let note = format!(
                " The rpc `{}`: renamed, since the client has a `{}` of its own.",
                m.proto_name, m.ident
            );
            quote!(#[doc = ""] #[doc = #note])
        });
        let docs = quote!(#docs #renamed);
        let response = if m.server_streaming {
            quote!(::tern::Response<::tern::Streaming<#output>>)
        } else {
            quote!(::tern::Response<#output>)
        };
        let shape = shape(m);
        let codec = quote!(::tern::codegen::ProstCodec::<#input, #output>::new());
        if m.client_streaming {
            quote! {
                #docs
                pub async fn #ident(
                    &self,
                    request: impl ::tern::IntoStreamingRequest<Message = #input>,
                ) -> ::core::result::Result<#response, ::tern::Status> {
                    let path = ::tern::codegen::PathAndQuery::from_static(#path);
                    self.inner.#shape(path, request.into_streaming_request(), #codec).await
                }
            }
        } else {
            quote! {
                #docs
                pub async fn #ident(
                    &self,
                    request: impl ::tern::IntoRequest<#input>,
                ) -> ::core::result::Result<#response, ::tern::Status> {
                    let path = ::tern::codegen::PathAndQuery::from_static(#path);
                    self.inner.#shape(path, request.into_request(), #codec).await
                }
            }
        }
    });

    quote! {
        /// Client side of the service.
        #[allow(clippy::wrong_self_convention, clippy::should_implement_trait)]
        pub mod #module {
            #service_docs
            #[derive(Clone, Debug)]
            pub struct #client_name {
                inner: ::tern::codegen::Client,
            }

            impl #client_name {
                /// Connects to `target` (`http://host:port`).
                pub async fn connect(target: &str) -> ::core::result::Result<Self, ::tern::Error> {
                    Ok(Self { inner: ::tern::codegen::Client::connect(target).await? })
                }

                /// A client on an existing channel, sharing its connection.
                pub fn new(channel: ::tern::Channel) -> Self {
                    Self { inner: ::tern::codegen::Client::new(channel) }
                }

                /// The largest response message accepted (default 4 MiB).
                pub fn max_decoding_message_size(self, limit: usize) -> Self {
                    Self { inner: self.inner.max_decoding_message_size(limit) }
                }

                /// The largest request message sent (default unlimited).
                pub fn max_encoding_message_size(self, limit: usize) -> Self {
                    Self { inner: self.inner.max_encoding_message_size(limit) }
                }

                /// Compresses request messages with `encoding` (default: none); a call can
                /// choose its own with `Request::set_send_compression`.
                pub fn send_compressed(self, encoding: ::tern::CompressionEncoding) -> Self {
                    Self { inner: self.inner.send_compressed(encoding) }
                }

                #(#methods)*
            }
        }
    }
}
