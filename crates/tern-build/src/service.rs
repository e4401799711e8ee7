//! Tern's generator for `service` blocks: for a service `Foo` it writes a module `foo_server` with
//! the trait `Foo` (one plain `async fn` per method) and the wrapper `FooServer` that routes calls
//! to it, and a module `foo_client` with `FooClient`.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

pub(crate) struct Generator {
    pub(crate) build_server: bool,
    pub(crate) build_client: bool,
}

impl prost_build::ServiceGenerator for Generator {
    fn generate(&mut self, service: prost_build::Service, buf: &mut String) {
        let mut tokens = TokenStream::new();
        if self.build_server {
            tokens.extend(server(&service));
        }
        if self.build_client {
            tokens.extend(client(&service));
        }
        buf.push_str(&tokens.to_string());
        buf.push('\n');
    }
}

fn snake_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The `.proto` comments as doc attributes.
fn docs(comments: &prost_build::Comments) -> TokenStream {
    comments
        .leading
        .iter()
        .flat_map(|block| block.lines())
        .map(|line| {
            let line = line.trim_end().to_owned();
            quote!(#[doc = #line])
        })
        .collect()
}

/// A message type's path as seen from inside the generated `foo_server` / `foo_client` module.
fn message_type(path: &str) -> TokenStream {
    let path = if path.starts_with("::") || path.starts_with("crate::") {
        path.to_owned()
    } else {
        format!("super::{path}")
    };
    // prost-build gives a valid Rust path.
    path.parse().unwrap_or_else(|_| quote!(()))
}

struct MethodParts {
    ident: proc_macro2::Ident,
    docs: TokenStream,
    input: TokenStream,
    output: TokenStream,
    path: String,
    proto_name: String,
    client_streaming: bool,
    server_streaming: bool,
}

fn methods(service: &prost_build::Service) -> Vec<MethodParts> {
    let full_name = full_name(service);
    service
        .methods
        .iter()
        .map(|m| MethodParts {
            ident: format_ident!("{}", m.name),
            docs: docs(&m.comments),
            input: message_type(&m.input_type),
            output: message_type(&m.output_type),
            path: format!("/{full_name}/{}", m.proto_name),
            proto_name: m.proto_name.clone(),
            client_streaming: m.client_streaming,
            server_streaming: m.server_streaming,
        })
        .collect()
}

fn full_name(service: &prost_build::Service) -> String {
    if service.package.is_empty() {
        service.proto_name.clone()
    } else {
        format!("{}.{}", service.package, service.proto_name)
    }
}

fn server(service: &prost_build::Service) -> TokenStream {
    let module = format_ident!("{}_server", snake_case(&service.name));
    let trait_name = format_ident!("{}", service.name);
    let server_name = format_ident!("{}Server", service.name);
    let service_docs = docs(&service.comments);
    let full_name = full_name(service);
    let methods = methods(service);
    let wrapper_doc = format!(
        " Serves a [`{}`] implementation: hand it to `tern::Server::add_service`.",
        service.name
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
        let shape = match (m.client_streaming, m.server_streaming) {
            (false, false) => quote!(unary),
            (false, true) => quote!(server_streaming),
            (true, false) => quote!(client_streaming),
            (true, true) => quote!(streaming),
        };
        quote! {
            #proto_name => {
                let codec = ::tern::codegen::ProstCodec::<#output, #input>::new();
                ::tern::codegen::#shape(call, codec, |request| self.inner.#ident(request)).await
            }
        }
    });

    quote! {
        /// Server side of the service: implement the trait, then serve it with the wrapper.
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
            }

            impl<T: #trait_name> ::tern::codegen::Service for #server_name<T> {
                const NAME: &'static str = #full_name;

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

fn client(service: &prost_build::Service) -> TokenStream {
    let module = format_ident!("{}_client", snake_case(&service.name));
    let client_name = format_ident!("{}Client", service.name);
    let service_docs = docs(&service.comments);
    let methods = methods(service).into_iter().map(|m| {
        let MethodParts {
            ident,
            docs,
            input,
            output,
            path,
            ..
        } = &m;
        let response = if m.server_streaming {
            quote!(::tern::Response<::tern::Streaming<#output>>)
        } else {
            quote!(::tern::Response<#output>)
        };
        let shape = match (m.client_streaming, m.server_streaming) {
            (false, false) => quote!(unary),
            (false, true) => quote!(server_streaming),
            (true, false) => quote!(client_streaming),
            (true, true) => quote!(streaming),
        };
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

                #(#methods)*
            }
        }
    }
}
