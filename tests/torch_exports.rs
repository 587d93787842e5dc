//! Issue 12: PyTorch exports that should load — BatchNorm1d in eval mode, Softmax/LogSoftmax heads,
//! `x.view(x.size(0), -1)` with a dynamic batch, clamp(min=0), Gemm with C of shape [1, N] — at opsets
//! 11, 13, 16 (torch 1.12) and 17 (onnx's converter). Each must match onnxruntime (float32) on the
//! fixture's inputs (`tests/data/torch/golden.json`, made by `tests/data/make_torch_exports.py`), bound
//! its exact outputs soundly, and certify.
use ndarray::Array1;
use rp::bound::BoundMethod;
use rp::net::{read_onnx, Head};
use rp::spec::{Norm, Region};
use std::path::Path;

mod common;

fn dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/torch"))
}

fn softmax(z: &Array1<f64>) -> Array1<f64> {
    let m = z.fold(f64::NEG_INFINITY, |a, &b| a.max(b));
    let e = z.mapv(|v| (v - m).exp());
    let s = e.sum();
    e / s
}

#[test]
fn pytorch_exports_load_and_match_onnxruntime() {
    let golden: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir().join("golden.json")).unwrap()).unwrap();
    let cases = golden["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 13);
    for case in cases {
        let name = case["model"].as_str().unwrap();
        let net = read_onnx(&dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let want_head = if name.starts_with("bn_softmax") {
            Head::Softmax
        } else if name.starts_with("view") {
            Head::LogSoftmax
        } else {
            Head::Logits
        };
        assert_eq!(net.head, want_head, "{name}");
        for (x, y) in case["inputs"].as_array().unwrap().iter().zip(case["outputs"].as_array().unwrap()) {
            let x: Array1<f64> = x.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
            let want: Vec<f64> = y.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
            let logits = net.forward(x.view());
            let got = match net.head {
                Head::Logits => logits.clone(),
                Head::Softmax => softmax(&logits),
                Head::LogSoftmax => softmax(&logits).mapv(f64::ln),
            };
            let scale = want.iter().fold(1e-3f64, |m, v| m.max(v.abs()));
            for (g, w) in got.iter().zip(&want) {
                assert!((g - w).abs() <= 2e-5 * scale, "{name}: rp {g} vs onnxruntime {w}");
            }
            // the bounds contain the exact outputs at sampled points of a ball
            let region = Region { center: x.view(), eps: 0.05, norm: Norm::Linf, domain: None };
            let b = BoundMethod::crown().logit_bounds(&net, &region);
            for p in common::sample_region(&region, 3, 16) {
                let e = common::exact_output_enclosure(&net, &p);
                for j in 0..logits.len() {
                    assert!(b.lower[j] <= e.upper[j] && b.upper[j] >= e.lower[j], "{name}: logit {j} escapes its bounds");
                }
            }
        }
    }
}

#[test]
fn pytorch_exports_certify_through_the_cli() {
    let rp = env!("CARGO_BIN_EXE_rp");
    let tmp = tempfile::tempdir().unwrap();
    for (name, width, extra) in [("bn_softmax_opset17.onnx", 5, vec![]), ("view_clamp_logsoftmax_opset13.onnx", 6, vec![]), ("bce_opset11.onnx", 4, vec!["--decision", "threshold"])] {
        let header = (0..width).map(|k| format!("x{k}")).collect::<Vec<_>>().join(",");
        let rows = (0..4).map(|i| (0..width).map(|k| format!("{}", 0.1 * (i as f64) - 0.05 * k as f64)).collect::<Vec<_>>().join(",")).collect::<Vec<_>>().join("\n");
        let csv = tmp.path().join(format!("{name}.csv"));
        std::fs::write(&csv, format!("{header}\n{rows}\n")).unwrap();
        let model = dir().join(name);
        let mut args = vec!["certify", "--model", model.to_str().unwrap(), "--input", csv.to_str().unwrap()];
        args.extend(extra);
        let o = std::process::Command::new(rp).args(&args).output().unwrap();
        assert!(o.status.success(), "{name}: {}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(String::from_utf8_lossy(&o.stdout).lines().count(), 5, "{name}");
    }
    // rp bounds of a Softmax model needs --logits
    let csv = tmp.path().join("bn_softmax_opset17.onnx.csv");
    let model = dir().join("bn_softmax_opset17.onnx");
    let o = std::process::Command::new(rp).args(["bounds", "--model", model.to_str().unwrap(), "--input", csv.to_str().unwrap(), "--eps", "0.1"]).output().unwrap();
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("--logits"));
    let o = std::process::Command::new(rp).args(["bounds", "--model", model.to_str().unwrap(), "--input", csv.to_str().unwrap(), "--eps", "0.1", "--logits"]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// Ops that stay unsupported are refused naming the node, with what would work instead.
#[test]
fn unsupported_ops_say_what_would_work() {
    use prost::Message;
    use rp::net::onnx_proto as pb;
    let bytes = std::fs::read(dir().join("bce_opset13.onnx")).unwrap();
    for (op, hint) in [("Sigmoid", "ReLU"), ("Tanh", "ReLU"), ("LeakyRelu", "ReLU"), ("Conv", "dense"), ("Dropout", "eval")] {
        let mut m = pb::ModelProto::decode(bytes.as_slice()).unwrap();
        let g = m.graph.as_mut().unwrap();
        let relu = g.node.iter_mut().find(|n| n.op_type() == "Relu").unwrap();
        relu.op_type = Some(op.into());
        let name = relu.name().to_string();
        let e = rp::net::read_onnx_bytes(&m.encode_to_vec()).unwrap_err().to_string();
        assert!(e.contains(op) && e.contains(hint) && e.contains(&name), "{op}: {e}");
    }
}
