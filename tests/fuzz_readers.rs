//! Issue 12: the ONNX and CSV readers on mutated and random input — never a panic, always `Ok` or a
//! clear `Err`; a model that loads also runs its forward pass and IBP without panicking. (A long
//! proptest rather than cargo-fuzz, so that it runs in every `cargo test`, `.ci/run` included.)
use proptest::prelude::*;
use prost::Message;
use rp::net::onnx_proto as pb;
use rp::net::{read_onnx_bytes, write_onnx_bytes};

/// Seed models: the demo MLP, and one with every layer kind the writer emits (elementwise ops,
/// BatchNormalization, reshape, a Softmax head).
fn seeds() -> Vec<Vec<u8>> {
    use ndarray::array;
    use rp::net::{Affine, ElemOp, Elementwise, Head, Layer, Network};
    let demo = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/models/demo-mlp/model.onnx")).unwrap();
    let mut net = Network::new(
        vec![2],
        vec![
            Layer::Elementwise(Elementwise::new(ElemOp::Sub, array![0.5, -0.25]).unwrap()),
            Layer::Elementwise(Elementwise::new(ElemOp::DivSqrt, array![2.0, 0.5]).unwrap()),
            Layer::Affine(Affine::new(array![[1.0, 2.0], [3.0, -4.0], [0.5, 0.5]], array![0.0, 1.0, -1.0])),
            Layer::Relu,
            Layer::Elementwise(Elementwise::new(ElemOp::SubFrom, array![1.0, 2.0, 3.0]).unwrap()),
            Layer::Affine(Affine::new(array![[1.0, 0.0, 1.0], [0.0, 1.0, -1.0]], array![0.25, 0.0])),
        ],
    )
    .unwrap();
    net.head = Head::Softmax;
    vec![demo, write_onnx_bytes(&net).unwrap()]
}

/// Loading must not panic; a loaded model must run.
fn exercise(bytes: &[u8]) {
    if let Ok(net) = read_onnx_bytes(bytes) {
        let d = net.input_dim();
        if d <= 4096 {
            let x = ndarray::Array1::<f64>::zeros(d);
            let _ = net.forward(x.view());
            let region = rp::spec::Region { center: x.view(), eps: 0.1, norm: rp::spec::Norm::Linf, domain: None };
            let _ = rp::bound::BoundMethod::Ibp.logit_bounds(&net, &region);
        }
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip { at: usize, bits: u8 },
    Truncate { at: usize },
    Insert { at: usize, byte: u8 },
    Splice { from: usize, to: usize, len: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1u8..=255).prop_map(|(at, bits)| Mutation::Flip { at, bits }),
        any::<usize>().prop_map(|at| Mutation::Truncate { at }),
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Insert { at, byte }),
        (any::<usize>(), any::<usize>(), 1usize..64).prop_map(|(from, to, len)| Mutation::Splice { from, to, len }),
    ]
}

fn apply(mut b: Vec<u8>, m: &Mutation) -> Vec<u8> {
    let n = b.len().max(1);
    match *m {
        Mutation::Flip { at, bits } => {
            let i = at % n;
            if i < b.len() {
                b[i] ^= bits;
            }
        }
        Mutation::Truncate { at } => b.truncate(at % n),
        Mutation::Insert { at, byte } => b.insert(at % (b.len() + 1), byte),
        Mutation::Splice { from, to, len } => {
            let (f, t) = (from % n, to % n);
            let chunk: Vec<u8> = b.iter().skip(f).take(len).copied().collect();
            for (k, v) in chunk.into_iter().enumerate() {
                if t + k < b.len() {
                    b[t + k] = v;
                }
            }
        }
    }
    b
}

/// Structured mutations of a decoded model: the fields a malformed exporter gets wrong.
#[derive(Debug, Clone)]
enum Edit {
    Dim { tensor: usize, dim: usize, value: i64 },
    DropValues { tensor: usize, keep: usize },
    OpType { node: usize, op: usize },
    Attr { node: usize, value: i64 },
    DropNode { node: usize },
    SwapInputs { node: usize },
    Opset { version: i64 },
    InputDim { dim: usize, value: i64 },
    NanWeight { tensor: usize },
}

const OPS: [&str; 16] =
    ["Relu", "Gemm", "MatMul", "Add", "Sub", "Mul", "Div", "Flatten", "Reshape", "Clip", "BatchNormalization", "Softmax", "Shape", "Gather", "Concat", "Conv"];

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), any::<usize>(), -3i64..1_000_000).prop_map(|(tensor, dim, value)| Edit::Dim { tensor, dim, value }),
        (any::<usize>(), 0usize..8).prop_map(|(tensor, keep)| Edit::DropValues { tensor, keep }),
        (any::<usize>(), 0usize..OPS.len()).prop_map(|(node, op)| Edit::OpType { node, op }),
        (any::<usize>(), -5i64..5).prop_map(|(node, value)| Edit::Attr { node, value }),
        any::<usize>().prop_map(|node| Edit::DropNode { node }),
        any::<usize>().prop_map(|node| Edit::SwapInputs { node }),
        (-1i64..30).prop_map(|version| Edit::Opset { version }),
        (0usize..4, -2i64..100).prop_map(|(dim, value)| Edit::InputDim { dim, value }),
        any::<usize>().prop_map(|tensor| Edit::NanWeight { tensor }),
    ]
}

fn apply_edit(bytes: &[u8], e: &Edit) -> Vec<u8> {
    let mut m = pb::ModelProto::decode(bytes).expect("seed decodes");
    let g = m.graph.as_mut().unwrap();
    let (nt, nn) = (g.initializer.len().max(1), g.node.len().max(1));
    match e {
        Edit::Dim { tensor, dim, value } => {
            if let Some(t) = g.initializer.get_mut(tensor % nt) {
                if !t.dims.is_empty() {
                    let k = dim % t.dims.len();
                    t.dims[k] = *value;
                }
            }
        }
        Edit::DropValues { tensor, keep } => {
            if let Some(t) = g.initializer.get_mut(tensor % nt) {
                t.float_data.truncate(*keep);
                if let Some(r) = t.raw_data.as_mut() {
                    r.truncate(*keep);
                }
            }
        }
        Edit::OpType { node, op } => {
            if let Some(n) = g.node.get_mut(node % nn) {
                n.op_type = Some(OPS[*op].into());
            }
        }
        Edit::Attr { node, value } => {
            if let Some(n) = g.node.get_mut(node % nn) {
                for a in n.attribute.iter_mut() {
                    a.i = Some(*value);
                }
                n.attribute.push(pb::AttributeProto { name: Some("axis".into()), i: Some(*value), r#type: Some(2), ..Default::default() });
            }
        }
        Edit::DropNode { node } => {
            if !g.node.is_empty() {
                g.node.remove(node % nn);
            }
        }
        Edit::SwapInputs { node } => {
            if let Some(n) = g.node.get_mut(node % nn) {
                n.input.reverse();
            }
        }
        Edit::Opset { version } => m.opset_import[0].version = Some(*version),
        Edit::InputDim { dim, value } => {
            if let Some(pb::type_proto::Value::TensorType(t)) = g.input[0].r#type.as_mut().and_then(|t| t.value.as_mut()) {
                if let Some(s) = t.shape.as_mut() {
                    if !s.dim.is_empty() {
                        let k = dim % s.dim.len();
                        s.dim[k].value = Some(pb::tensor_shape_proto::dimension::Value::DimValue(*value));
                    }
                }
            }
        }
        Edit::NanWeight { tensor } => {
            if let Some(t) = g.initializer.get_mut(tensor % nt) {
                if let Some(v) = t.float_data.first_mut() {
                    *v = f32::NAN;
                }
            }
        }
    }
    m.encode_to_vec()
}

proptest! {
    // RP_FUZZ_CASES=200000 for a long run; the default keeps the suite quick
    #![proptest_config(ProptestConfig { cases: std::env::var("RP_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(4000), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn mutated_onnx_bytes_never_panic(seed in 0usize..2, muts in prop::collection::vec(mutation(), 1..6)) {
        let mut b = seeds()[seed].clone();
        for m in &muts {
            b = apply(b, m);
        }
        exercise(&b);
    }

    #[test]
    fn malformed_onnx_models_never_panic(seed in 0usize..2, edits in prop::collection::vec(edit(), 1..4)) {
        let mut b = seeds()[seed].clone();
        for e in &edits {
            b = apply_edit(&b, e);
        }
        exercise(&b);
    }

    #[test]
    fn random_csv_never_panics(text in "[0-9a-zA-Z,.\\-+eE\"\\n\\r \t;]{0,200}", cols in 1usize..5) {
        let _ = rp::data::read_inputs_from(text.as_bytes(), std::path::Path::new("fuzz.csv"), cols);
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("raw.csv");
        std::fs::write(&p, &text).unwrap();
        let _ = rp::data::raw::RawTable::read(&p);
    }

    #[test]
    fn mutated_csv_never_panics(rows in prop::collection::vec(prop::collection::vec(prop_oneof![
        Just("1".to_string()), Just("-2.5e3".to_string()), Just("nan".to_string()), Just("inf".to_string()),
        Just("1e308".to_string()), Just("".to_string()), Just("\"3\"".to_string()), Just("x".to_string()),
        Just("label".to_string()), "[0-9]{1,3}".prop_map(String::from)], 0..5), 0..6), cols in 1usize..4) {
        let text: String = rows.iter().map(|r| r.join(",")).collect::<Vec<_>>().join("\n");
        let _ = rp::data::read_inputs_from(text.as_bytes(), std::path::Path::new("fuzz.csv"), cols);
    }
}
