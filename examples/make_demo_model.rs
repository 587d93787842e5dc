//! Regenerates the bundled demo model `models/demo-mlp/`: a seeded 11→64→2 ReLU MLP (PyTorch-style
//! initialisation, seed 2026) and 20 seeded standard-normal input rows. `tests/demo_model.rs` checks that
//! the committed files equal what this writes.
//!
//!     cargo run --release --example make_demo_model -- models/demo-mlp
use rp::net::{init::seeded_mlp, write_onnx_bytes};
use rp::rng::Philox;
use std::path::PathBuf;

fn main() {
    let dir = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "models/demo-mlp".into()));
    std::fs::create_dir_all(&dir).expect("create output folder");
    let (onnx, csv) = demo_files();
    std::fs::write(dir.join("model.onnx"), onnx).expect("write model.onnx");
    std::fs::write(dir.join("inputs.csv"), csv).expect("write inputs.csv");
    println!("wrote {}/model.onnx and inputs.csv", dir.display());
}

/// The bytes of model.onnx and inputs.csv.
pub fn demo_files() -> (Vec<u8>, String) {
    let net = seeded_mlp(&[11, 64, 2], 2026);
    let rng = Philox::new(2026);
    let mut csv = (0..11).map(|k| format!("x{k}")).collect::<Vec<_>>().join(",") + "\n";
    for r in 0..20u64 {
        let mut v = vec![0.0; 12];
        rng.fill_normal(1000 + r, 0, &mut v);
        csv += &v[..11].iter().map(|x| format!("{:.6}", x)).collect::<Vec<_>>().join(",");
        csv += "\n";
    }
    (write_onnx_bytes(&net).expect("f32 weights"), csv)
}
