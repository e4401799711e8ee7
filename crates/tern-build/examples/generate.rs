//! Writes the Rust code for some `.proto` files into a directory, outside any build script:
//! `cargo run -p tern-build --example generate -- OUT_DIR INCLUDE_DIR DESCRIPTORS PROTO...`,
//! which also writes the encoded descriptors (for reflection) to `OUT_DIR/DESCRIPTORS`.
//! Tern uses it for the services it ships (health checking), whose code is checked in.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: generate OUT_DIR INCLUDE_DIR DESCRIPTORS PROTO...";
    let out = args.next().ok_or(usage)?;
    let include = args.next().ok_or(usage)?;
    let descriptors = std::path::Path::new(&out).join(args.next().ok_or(usage)?);
    let protos: Vec<String> = args.collect();
    if protos.is_empty() {
        return Err(usage.into());
    }
    tern_build::configure()
        .out_dir(&out)
        .file_descriptor_set_path(descriptors)
        .emit_rerun_if_changed(false)
        .compile(&protos, &[&include])?;
    // Each shipped service is included on its own (`include!` of its package's file), so the
    // include tree, which the next run would overwrite anyway, is not kept.
    std::fs::remove_file(std::path::Path::new(&out).join(tern_build::INCLUDE_FILE))?;
    Ok(())
}
