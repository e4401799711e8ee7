//! The code of the services `tern` ships (checked in under crates/tern/src/services/generated)
//! is what tern-build generates from their protos today: regenerate and compare.

use std::path::Path;

#[test]
fn checked_in_service_code_is_up_to_date() {
    let tern = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tern");
    let out = std::env::temp_dir().join(format!("tern-build-check-{}", std::process::id()));
    std::fs::create_dir_all(&out).unwrap();
    tern_build::configure()
        .out_dir(&out)
        .emit_rerun_if_changed(false)
        .compile(
            &[tern.join("proto/grpc/health/v1/health.proto")],
            &[tern.join("proto")],
        )
        .unwrap();
    let fresh = std::fs::read_to_string(out.join("grpc.health.v1.rs")).unwrap();
    let shipped =
        std::fs::read_to_string(tern.join("src/services/generated/grpc.health.v1.rs")).unwrap();
    let _ = std::fs::remove_dir_all(&out);
    assert!(
        fresh == shipped,
        "crates/tern/src/services/generated is stale: run `cargo run -p tern-build --example \
         generate -- crates/tern/src/services/generated crates/tern/proto \
         crates/tern/proto/grpc/health/v1/health.proto`"
    );
}
