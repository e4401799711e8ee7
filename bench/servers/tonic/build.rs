fn main() -> Result<(), Box<dyn std::error::Error>> {
    // tonic-build needs protoc: bench/run.py installs Debian's protobuf-compiler.
    tonic_prost_build::compile_protos("../../../examples/hello/proto/hello.proto")?;
    tonic_prost_build::compile_protos("../../proto/streams.proto")?;
    Ok(())
}
