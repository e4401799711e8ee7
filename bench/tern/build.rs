fn main() -> Result<(), Box<dyn std::error::Error>> {
    tern_build::compile_protos(&["../proto/streams.proto"], &["../proto"])?;
    Ok(())
}
