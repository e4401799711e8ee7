//! The code of the services `tern` ships (checked in under crates/tern/src/services/generated)
//! is what tern-build generates from their protos today: regenerate and compare.

use std::path::Path;

/// (protos, generated module, descriptor file) for each shipped package.
const SHIPPED: [(&[&str], &str, &str); 5] = [
    (
        &["grpc/health/v1/health.proto"],
        "grpc.health.v1.rs",
        "health.bin",
    ),
    (
        &["grpc/reflection/v1/reflection.proto"],
        "grpc.reflection.v1.rs",
        "reflection_v1.bin",
    ),
    (
        &["grpc/reflection/v1alpha/reflection.proto"],
        "grpc.reflection.v1alpha.rs",
        "reflection_v1alpha.bin",
    ),
    (
        &["grpc/channelz/v1/channelz.proto"],
        "grpc.channelz.v1.rs",
        "channelz.bin",
    ),
    (
        &["google/rpc/status.proto", "google/rpc/error_details.proto"],
        "google.rpc.rs",
        "rpc.bin",
    ),
];

#[test]
fn checked_in_service_code_is_up_to_date() {
    let tern = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tern");
    let shipped = tern.join("src/services/generated");
    for (protos, module, descriptors) in SHIPPED {
        let out = std::env::temp_dir().join(format!(
            "tern-build-check-{}-{descriptors}",
            std::process::id()
        ));
        std::fs::create_dir_all(&out).unwrap();
        tern_build::configure()
            .out_dir(&out)
            .file_descriptor_set_path(out.join(descriptors))
            .emit_rerun_if_changed(false)
            .compile(
                &protos
                    .iter()
                    .map(|proto| tern.join("proto").join(proto))
                    .collect::<Vec<_>>(),
                &[tern.join("proto")],
            )
            .unwrap();
        for file in [module, descriptors] {
            let fresh = std::fs::read(out.join(file)).unwrap();
            let checked_in = std::fs::read(shipped.join(file)).unwrap();
            assert!(
                fresh == checked_in,
                "crates/tern/src/services/generated/{file} is stale: run `cargo run -p \
                 tern-build --example generate -- crates/tern/src/services/generated \
                 crates/tern/proto {descriptors} {}`",
                protos
                    .iter()
                    .map(|proto| format!("crates/tern/proto/{proto}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            );
        }
        let _ = std::fs::remove_dir_all(&out);
    }
}
