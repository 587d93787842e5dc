//! Provenance of the shipped APE model: `models/ape-paper` is what the paper's recipe produces from the
//! synthetic data (100 000 rows, seed 0) — regenerate with the commands in models/ape-paper/README.md.
use rp::experiment::data::{paper_train_options, prepare};

#[test]
fn shipped_ape_model_is_the_recipe_output() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/ape-paper");
    let data = prepare(100_000, 0).unwrap();
    let (net, _) = rp::train::train_mlp(data.train_x.view(), &data.train_y, &paper_train_options(&data, 0)).unwrap();
    let shipped = rp::net::read_onnx(&dir.join("model.onnx")).unwrap();
    assert_eq!(format!("{:?}", shipped.layers), format!("{:?}", net.layers), "retrain: see models/ape-paper/README.md");
    let card = rp::data::card::ModelCard::read(&dir.join("card.json")).unwrap();
    assert_eq!(card, data.card);
    assert_eq!(rp::train::accuracy(&shipped, data.test_x.view(), &data.test_y), 1.0);
}
