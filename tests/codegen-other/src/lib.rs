//! Messages of another crate, for tern-codegen-tests' services to use through `extern_path`
//! (`acme::common::Money`).

tern::include_protos!();
