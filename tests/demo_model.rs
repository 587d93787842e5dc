//! The bundled demo model is exactly what `examples/make_demo_model.rs` writes (so its provenance is
//! reproducible), and it certifies.
#[path = "../examples/make_demo_model.rs"]
#[allow(dead_code)]
mod make_demo_model;

#[test]
fn bundled_demo_files_are_reproducible() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/demo-mlp");
    let (onnx, csv) = make_demo_model::demo_files();
    assert!(std::fs::read(dir.join("model.onnx")).unwrap() == onnx, "models/demo-mlp/model.onnx differs from the generator");
    assert_eq!(std::fs::read_to_string(dir.join("inputs.csv")).unwrap(), csv);
}
