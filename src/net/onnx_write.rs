//! [`Network`] → ONNX (opset 13, IR 8): Gemm (transB = 1) per affine layer, Add/Sub/Mul/Div by a
//! constant per elementwise layer, Relu, Reshape; float32 weights; a symbolic batch axis. The result opens in onnxruntime, auto_LiRPA and Marabou.
use super::onnx_proto as pb;
use super::{ElemOp, Head, Layer, Network};
use crate::{Error, Result};
use prost::Message;
use std::path::Path;

/// Writes `net` as ONNX. Weights must be exactly representable in float32 (see
/// [`Network::round_weights_to_f32`]); otherwise the file would describe a different network.
pub fn write_onnx(net: &Network, path: &Path) -> Result<()> {
    let bytes = write_onnx_bytes(net)?;
    std::fs::write(path, bytes).map_err(|err| Error::Io { path: path.into(), err })
}

/// Encodes `net` as ONNX bytes (see [`write_onnx`]).
pub fn write_onnx_bytes(net: &Network) -> Result<Vec<u8>> {
    let mut nodes = Vec::new();
    let mut inits = Vec::new();
    let mut current = "input".to_string();
    let mut shape = net.input_shape.clone();
    for (i, layer) in net.layers.iter().enumerate() {
        let out = format!("h{i}");
        match layer {
            Layer::Affine(a) => {
                if shape.len() != 1 {
                    let flat = format!("h{i}_flat");
                    nodes.push(node("Flatten", &[&current], &flat, &format!("flatten_{i}"), vec![int_attr("axis", 1)]));
                    current = flat;
                }
                let (w, b) = (format!("W{i}"), format!("b{i}"));
                inits.push(f32_tensor(&w, &[a.out_dim(), a.in_dim()], a.weight.iter().copied(), i)?);
                inits.push(f32_tensor(&b, &[a.out_dim()], a.bias.iter().copied(), i)?);
                nodes.push(node("Gemm", &[&current, &w, &b], &out, &format!("gemm_{i}"), vec![int_attr("transB", 1)]));
                shape = vec![a.out_dim()];
            }
            Layer::Elementwise(e) if e.op == ElemOp::DivSqrt => {
                // h/√v exactly: BatchNormalization with mean 0, scale 1, bias 0, var v and ε 0
                let n = e.dim();
                let names = [format!("bn_scale{i}"), format!("bn_bias{i}"), format!("bn_mean{i}"), format!("bn_var{i}")];
                inits.push(f32_tensor(&names[0], &[n], std::iter::repeat_n(1.0, n), i)?);
                inits.push(f32_tensor(&names[1], &[n], std::iter::repeat_n(0.0, n), i)?);
                inits.push(f32_tensor(&names[2], &[n], std::iter::repeat_n(0.0, n), i)?);
                inits.push(f32_tensor(&names[3], &[n], e.value.iter().copied(), i)?);
                let eps = pb::AttributeProto { name: Some("epsilon".into()), f: Some(0.0), r#type: Some(pb::attribute_proto::AttributeType::Float as i32), ..Default::default() };
                let inputs: Vec<&str> = std::iter::once(current.as_str()).chain(names.iter().map(|s| s.as_str())).collect();
                nodes.push(node("BatchNormalization", &inputs, &out, &format!("batchnorm_{i}"), vec![eps]));
            }
            Layer::Elementwise(e) => {
                let c = format!("c{i}");
                let dims: Vec<usize> = std::iter::once(1).chain(shape.iter().copied()).collect();
                inits.push(f32_tensor(&c, &dims, e.value.iter().copied(), i)?);
                let inputs: [&str; 2] = match e.op {
                    ElemOp::SubFrom => [&c, &current],
                    ElemOp::Add | ElemOp::Sub | ElemOp::Mul | ElemOp::Div | ElemOp::DivSqrt => [&current, &c],
                };
                let name = format!("{}_{i}", e.op.onnx_name().to_lowercase());
                nodes.push(node(e.op.onnx_name(), &inputs, &out, &name, vec![]));
            }
            Layer::Relu => nodes.push(node("Relu", &[&current], &out, &format!("relu_{i}"), vec![])),
            Layer::Reshape { shape: s } => {
                let sname = format!("shape{i}");
                let dims: Vec<i64> = std::iter::once(-1).chain(s.iter().map(|&d| d as i64)).collect();
                inits.push(pb::TensorProto {
                    name: Some(sname.clone()),
                    dims: vec![dims.len() as i64],
                    data_type: Some(pb::tensor_proto::DataType::Int64 as i32),
                    int64_data: dims,
                    ..Default::default()
                });
                nodes.push(node("Reshape", &[&current, &sname], &out, &format!("reshape_{i}"), vec![]));
                shape = s.clone();
            }
        }
        current = out;
    }
    match net.head {
        Head::Logits => {}
        Head::Softmax | Head::LogSoftmax => {
            let op = if net.head == Head::Softmax { "Softmax" } else { "LogSoftmax" };
            let out = "head".to_string();
            nodes.push(node(op, &[&current], &out, "head", vec![int_attr("axis", -1)]));
        }
    }
    if let Some(last) = nodes.last_mut() {
        last.output = vec!["output".into()];
    } else {
        nodes.push(node("Identity", &["input"], "output", "identity", vec![]));
    }
    let graph = pb::GraphProto {
        name: Some("rp_network".into()),
        node: nodes,
        initializer: inits,
        input: vec![value_info("input", &net.input_shape)],
        output: vec![value_info("output", &[net.output_dim()])],
        ..Default::default()
    };
    let model = pb::ModelProto {
        ir_version: Some(8),
        producer_name: Some("robust-privacy".into()),
        producer_version: Some(env!("CARGO_PKG_VERSION").into()),
        opset_import: vec![pb::OperatorSetIdProto { domain: Some(String::new()), version: Some(13) }],
        graph: Some(graph),
        ..Default::default()
    };
    Ok(model.encode_to_vec())
}

fn node(op: &str, inputs: &[&str], output: &str, name: &str, attribute: Vec<pb::AttributeProto>) -> pb::NodeProto {
    pb::NodeProto {
        op_type: Some(op.into()),
        name: Some(name.into()),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![output.into()],
        attribute,
        ..Default::default()
    }
}

fn int_attr(name: &str, v: i64) -> pb::AttributeProto {
    pb::AttributeProto {
        name: Some(name.into()),
        i: Some(v),
        r#type: Some(pb::attribute_proto::AttributeType::Int as i32),
        ..Default::default()
    }
}

fn f32_tensor(name: &str, dims: &[usize], values: impl Iterator<Item = f64>, layer: usize) -> Result<pb::TensorProto> {
    let mut data = Vec::new();
    for v in values {
        let f = v as f32;
        if f as f64 != v {
            return Err(Error::OnnxWrite(format!(
                "layer {layer}: value {v} is not exactly representable in float32; call \
                 Network::round_weights_to_f32 before exporting"
            )));
        }
        data.push(f);
    }
    Ok(pb::TensorProto {
        name: Some(name.into()),
        dims: dims.iter().map(|&d| d as i64).collect(),
        data_type: Some(pb::tensor_proto::DataType::Float as i32),
        float_data: data,
        ..Default::default()
    })
}

fn value_info(name: &str, sample_shape: &[usize]) -> pb::ValueInfoProto {
    use pb::tensor_shape_proto::{dimension::Value, Dimension};
    let mut dim = vec![Dimension { value: Some(Value::DimParam("batch".into())), ..Default::default() }];
    dim.extend(sample_shape.iter().map(|&d| Dimension { value: Some(Value::DimValue(d as i64)), ..Default::default() }));
    pb::ValueInfoProto {
        name: Some(name.into()),
        r#type: Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: Some(pb::tensor_proto::DataType::Float as i32),
                shape: Some(pb::TensorShapeProto { dim }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}
