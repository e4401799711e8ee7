//! Compiles the fixtures: everything in one run into `$OUT_DIR` (brought in with
//! `tern::include_protos!()`), and `sides.proto` again with only clients, only servers, and
//! with the well-known types compiled in.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    tern_build::configure()
        .extern_path(".acme.common", "::tern_codegen_other::acme::common")
        .bytes([".opts.Blob.data"])
        .btree_map([".opts.Blob.counts"])
        .type_attribute(".opts.Tag", "#[derive(::serde::Serialize)]")
        .field_attribute(".opts.Tag.secret", "#[serde(skip)]")
        .message_attribute(".opts.Tag", "#[derive(PartialOrd, Ord)]")
        .enum_attribute(".opts.Color", "#[derive(::serde::Serialize)]")
        .boxed(".opts.Tree.left")
        .compile(
            &[
                "proto/wkt.proto",
                "proto/keywords.proto",
                "proto/nested/a/b/c/svc.proto",
                "proto/proto2.proto",
                "proto/options.proto",
                "proto/orders.proto",
                "proto/sides.proto",
            ],
            &["proto", "proto/nested", "../codegen-other/proto"],
        )?;
    for (dir, client, server) in [("client_only", true, false), ("server_only", false, true)] {
        tern_build::configure()
            .build_client(client)
            .build_server(server)
            .out_dir(out.join(dir))
            .compile(&["proto/sides.proto"], &["proto"])?;
    }
    tern_build::configure()
        .compile_well_known_types(true)
        .out_dir(out.join("wkt_compiled"))
        .compile(&["proto/wkt.proto"], &["proto"])?;
    Ok(())
}
