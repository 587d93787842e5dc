//! Writes a seeded random ReLU MLP (PyTorch-style initialisation) as ONNX, for benchmarks.
//!
//!     cargo run --release --example make_mlp -- 784,256,256,10 SEED OUT.onnx
fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    anyhow::ensure!(args.len() == 4, "usage: make_mlp SIZES SEED OUT.onnx   (SIZES like 784,256,256,10)");
    let sizes: Vec<usize> = args[1].split(',').map(|s| s.parse()).collect::<Result<_, _>>()?;
    let net = rp::net::init::seeded_mlp(&sizes, args[2].parse()?);
    rp::net::write_onnx(&net, args[3].as_ref())?;
    Ok(())
}
