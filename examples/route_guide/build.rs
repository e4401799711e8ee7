fn main() -> Result<(), Box<dyn std::error::Error>> {
    tern_build::compile_protos(&["proto/route_guide.proto"], &["proto"])?;
    Ok(())
}
