fn main() -> Result<(), Box<dyn std::error::Error>> {
    tern_build::compile_protos(&["proto/grpc/testing/test.proto"], &["proto"])?;
    Ok(())
}
