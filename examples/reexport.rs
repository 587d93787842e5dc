//! Reads an ONNX model with `rp` and writes it back with `rp`'s writer (Gemm/Relu/Reshape, opset 13):
//! used by the peer benches to give the peers' chain converters a file they read (e.g. ACAS Xu's
//! Sub/MatMul/Add graph, whose normalisation is folded into the first Gemm). With `--flat`, the input
//! becomes a flat [batch, d] tensor (leading reshapes dropped), as the peers' scripts feed it.
//!
//!     cargo run --release --example reexport -- IN.onnx OUT.onnx [--flat]
use rp::net::Layer;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    anyhow::ensure!(args.len() == 3 || (args.len() == 4 && args[3] == "--flat"), "usage: reexport IN.onnx OUT.onnx [--flat]");
    let mut net = rp::net::read_onnx(args[1].as_ref())?;
    if args.len() == 4 {
        net.input_shape = vec![net.input_dim()];
        let lead = net.layers.iter().take_while(|l| matches!(l, Layer::Reshape { .. })).count();
        net.layers.drain(..lead);
    }
    rp::net::write_onnx(&net, args[2].as_ref())?;
    Ok(())
}
