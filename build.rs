//! Compiles the vendored `proto/onnx.proto` (Apache-2.0, from the onnx 1.17 wheel) into Rust types with
//! prost, parsing it with protox so no `protoc` binary is needed.
fn main() {
    println!("cargo:rerun-if-changed=proto/onnx.proto");
    let fds = protox::compile(["proto/onnx.proto"], ["proto"]).expect("proto/onnx.proto must parse");
    prost_build::Config::new()
        .compile_fds(fds)
        .expect("prost code generation for onnx.proto");
}
