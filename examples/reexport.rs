//! Reads an ONNX model with `rp` and writes it back with `rp`'s writer (Gemm/Relu/Reshape, opset 13):
//! used by the peer benches to give auto_LiRPA's chain converter a file it reads (e.g. ACAS Xu's
//! Sub/MatMul/Add graph, whose normalisation is folded into the first Gemm).
//!
//!     cargo run --release --example reexport -- IN.onnx OUT.onnx
fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    anyhow::ensure!(args.len() == 3, "usage: reexport IN.onnx OUT.onnx");
    let net = rp::net::read_onnx(args[1].as_ref())?;
    rp::net::write_onnx(&net, args[2].as_ref())?;
    Ok(())
}
