fn main() -> Result<(), Box<dyn std::error::Error>> {
    tern_build::compile_protos(&["proto/acme/common/money.proto"], &["proto"])?;
    Ok(())
}
