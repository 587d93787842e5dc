//! ONNX → [`Network`] for chain-shaped feed-forward graphs (SPEC §3): MatMul, Gemm, Add, Sub, Mul/Div by
//! constants, Relu, Flatten, Reshape, Identity, Constant; weights as initializers, also when they are
//! listed among the graph inputs (IR v3 style, as in the VNN-COMP files). Elementwise maps by constants
//! become exact [`Layer::Elementwise`] layers (never folded into a dense layer, which would round).
//! Anything else is an error naming the node and its op.
use super::onnx_proto::{self as pb, tensor_proto::DataType};
use super::{Affine, ElemOp, Elementwise, Head, Layer, Network};
use crate::{Error, Result};
use ndarray::{Array1, Array2};
use prost::Message;
use std::collections::HashMap;
use std::path::Path;

/// Opset versions of the default domain whose semantics for the supported ops we implement.
const OPSETS: std::ops::RangeInclusive<i64> = 7..=21;

/// Reads an ONNX file into a [`Network`].
pub fn read_onnx(path: &Path) -> Result<Network> {
    let bytes = std::fs::read(path).map_err(|err| Error::Io { path: path.into(), err })?;
    let model = pb::ModelProto::decode(bytes.as_slice())
        .map_err(|err| Error::OnnxDecode { path: path.into(), err })?;
    from_model(&model).map_err(|e| match e {
        Error::OnnxModel(m) => Error::OnnxModel(format!("{}: {m}", path.display())),
        other => other,
    })
}

/// Decodes ONNX bytes into a [`Network`].
pub fn read_onnx_bytes(bytes: &[u8]) -> Result<Network> {
    let model = pb::ModelProto::decode(bytes)
        .map_err(|err| Error::OnnxDecode { path: "<bytes>".into(), err })?;
    from_model(&model)
}

/// A constant tensor with its values widened to f64.
#[derive(Clone, Debug)]
struct Constant {
    dims: Vec<usize>,
    values: Vec<f64>,
}

/// The activation flowing down the chain: its name and per-sample shape.
struct Activation {
    name: String,
    shape: Vec<usize>,
    batched: bool,
}

struct Builder {
    /// The default domain's opset (attribute defaults differ between versions).
    opset: i64,
    consts: HashMap<String, Constant>,
    act: Activation,
    layers: Vec<Layer>,
    /// A final Softmax / LogSoftmax (nothing may follow it).
    head: Head,
}

fn from_model(model: &pb::ModelProto) -> Result<Network> {
    check_opset(model)?;
    let graph = model.graph.as_ref().ok_or_else(|| Error::OnnxModel("the model has no graph".into()))?;
    let mut consts = HashMap::new();
    for t in &graph.initializer {
        consts.insert(t.name().to_string(), decode_tensor(t, &format!("initializer '{}'", t.name()))?);
    }
    let input = single_input(graph, &consts)?;
    let output = match graph.output.as_slice() {
        [o] => o.name().to_string(),
        outs => return Err(Error::OnnxModel(format!("expected exactly one graph output, found {}", outs.len()))),
    };
    let input_shape = input.shape.clone();
    let opset = model.opset_import.iter().find(|o| matches!(o.domain(), "" | "ai.onnx")).map_or(13, |o| o.version());
    let mut b = Builder { opset, consts, act: input, layers: Vec::new(), head: Head::Logits };
    for (i, node) in graph.node.iter().enumerate() {
        b.node(node, i)?;
    }
    if b.act.name != output {
        return Err(Error::OnnxModel(format!(
            "the graph output '{output}' is not the end of the node chain (which ends at '{}'); only chain-shaped \
             graphs are supported",
            b.act.name
        )));
    }
    let mut net = Network::new(input_shape, b.layers)?;
    net.head = b.head;
    Ok(net)
}

fn check_opset(model: &pb::ModelProto) -> Result<()> {
    let default = model.opset_import.iter().find(|o| matches!(o.domain(), "" | "ai.onnx"));
    match default {
        None => Err(Error::OnnxModel("no opset import for the default ONNX domain".into())),
        Some(o) if !OPSETS.contains(&o.version()) => Err(Error::OnnxModel(format!(
            "opset {} of the default domain is not supported (supported: {}–{}); re-export the model with an \
             opset in that range",
            o.version(),
            OPSETS.start(),
            OPSETS.end()
        ))),
        Some(_) => Ok(()),
    }
}

/// The one graph input that is not an initializer, with its per-sample shape.
fn single_input(graph: &pb::GraphProto, consts: &HashMap<String, Constant>) -> Result<Activation> {
    let real: Vec<&pb::ValueInfoProto> = graph.input.iter().filter(|v| !consts.contains_key(v.name())).collect();
    let vi = match real.as_slice() {
        [v] => *v,
        [] => return Err(Error::OnnxModel("the graph has no input that is not an initializer".into())),
        many => {
            let names: Vec<&str> = many.iter().map(|v| v.name()).collect();
            return Err(Error::OnnxModel(format!("the graph has {} inputs {names:?}; exactly one is supported", many.len())));
        }
    };
    let tensor = match vi.r#type.as_ref().and_then(|t| t.value.as_ref()) {
        Some(pb::type_proto::Value::TensorType(t)) => t,
        _ => return Err(Error::OnnxModel(format!("graph input '{}' is not a tensor", vi.name()))),
    };
    let elem = tensor.elem_type();
    if elem != DataType::Float as i32 && elem != DataType::Double as i32 {
        return Err(Error::OnnxModel(format!(
            "graph input '{}' has element type {} ; only float and double inputs are supported",
            vi.name(),
            dtype_name(elem)
        )));
    }
    let dims = tensor.shape.as_ref().map(|s| s.dim.as_slice()).unwrap_or(&[]);
    if dims.is_empty() {
        return Err(Error::OnnxModel(format!("graph input '{}' has no static shape", vi.name())));
    }
    let batched = dims.len() >= 2;
    let mut shape = Vec::new();
    for (k, d) in dims.iter().enumerate() {
        use pb::tensor_shape_proto::dimension::Value;
        let size = match &d.value {
            Some(Value::DimValue(v)) if *v > 0 => Some(*v as usize),
            _ => None,
        };
        if batched && k == 0 {
            if size.is_some_and(|s| s != 1) {
                return Err(Error::OnnxModel(format!(
                    "graph input '{}' has a fixed batch dimension {}; export the model with batch size 1 or a \
                     symbolic batch dimension",
                    vi.name(),
                    size.unwrap()
                )));
            }
            continue;
        }
        match size {
            Some(s) => shape.push(s),
            None => {
                return Err(Error::OnnxModel(format!(
                    "graph input '{}' has a symbolic or unknown dimension at axis {k}; only the batch axis may be \
                     symbolic",
                    vi.name()
                )))
            }
        }
    }
    Ok(Activation { name: vi.name().to_string(), shape, batched })
}

fn dtype_name(t: i32) -> String {
    DataType::try_from(t).map(|d| format!("{d:?}")).unwrap_or_else(|_| format!("#{t}"))
}

fn decode_tensor(t: &pb::TensorProto, what: &str) -> Result<Constant> {
    if t.data_location() == pb::tensor_proto::DataLocation::External {
        return Err(Error::OnnxModel(format!("{what} is stored in an external file, which is not supported")));
    }
    let dims: Vec<usize> = t
        .dims
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| Error::OnnxModel(format!("{what} has a negative dimension {d}"))))
        .collect::<Result<_>>()?;
    let n: usize = dims.iter().product();
    let raw = t.raw_data.as_deref().filter(|r| !r.is_empty());
    let dt = t.data_type();
    let values: Vec<f64> = match DataType::try_from(dt) {
        Ok(DataType::Float) => match raw {
            Some(r) => r.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap()) as f64).collect(),
            None => t.float_data.iter().map(|&v| v as f64).collect(),
        },
        Ok(DataType::Double) => match raw {
            Some(r) => r.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap())).collect(),
            None => t.double_data.clone(),
        },
        Ok(DataType::Int64) => match raw {
            Some(r) => r.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().unwrap()) as f64).collect(),
            None => t.int64_data.iter().map(|&v| v as f64).collect(),
        },
        Ok(DataType::Int32) => match raw {
            Some(r) => r.chunks_exact(4).map(|c| i32::from_le_bytes(c.try_into().unwrap()) as f64).collect(),
            None => t.int32_data.iter().map(|&v| v as f64).collect(),
        },
        _ => {
            return Err(Error::OnnxModel(format!(
                "{what} has element type {}; supported: float, double, int32, int64",
                dtype_name(dt)
            )))
        }
    };
    if values.len() != n {
        return Err(Error::OnnxModel(format!("{what} has {} values but its dims {dims:?} need {n}", values.len())));
    }
    Ok(Constant { dims, values })
}

fn attr<'a>(node: &'a pb::NodeProto, name: &str) -> Option<&'a pb::AttributeProto> {
    node.attribute.iter().find(|a| a.name() == name)
}

fn attr_int(node: &pb::NodeProto, name: &str, default: i64) -> i64 {
    attr(node, name).and_then(|a| a.i).unwrap_or(default)
}

fn attr_float(node: &pb::NodeProto, name: &str, default: f64) -> f64 {
    attr(node, name).and_then(|a| a.f).map(|f| f as f64).unwrap_or(default)
}

impl Builder {
    fn node(&mut self, node: &pb::NodeProto, index: usize) -> Result<()> {
        let name = if node.name().is_empty() { format!("#{index}") } else { node.name().to_string() };
        let op = node.op_type().to_string();
        let err = |reason: String| Error::OnnxNode { node: name.clone(), op: op.clone(), reason };
        if !matches!(node.domain(), "" | "ai.onnx") {
            return Err(err(format!("custom domain '{}' is not supported", node.domain())));
        }
        if op == "Constant" {
            return self.constant_node(node).map_err(err);
        }
        let inputs: Vec<&str> = node.input.iter().map(|s| s.as_str()).filter(|s| !s.is_empty()).collect();
        // shape arithmetic (PyTorch's x.view(x.size(0), -1) exports Shape → Gather → Unsqueeze → Concat):
        // the shape of the activation is known, so such nodes fold to constants and the chain goes on
        if op == "Shape" && inputs == [self.act.name.as_str()] {
            let full = self.full_shape();
            let out = node.output.first().ok_or_else(|| err("Shape without output".into()))?.clone();
            let c = Constant { dims: vec![full.len()], values: full.iter().map(|&d| d as f64).collect() };
            self.consts.insert(out, slice_shape(c, node).map_err(err)?);
            return Ok(());
        }
        if !inputs.is_empty() && inputs.iter().all(|s| self.consts.contains_key(*s)) {
            let args: Vec<Constant> = inputs.iter().map(|s| self.consts[*s].clone()).collect();
            let out = match node.output.as_slice() {
                [o] => o.clone(),
                outs => return Err(err(format!("expected one output, found {}", outs.len()))),
            };
            let folded = fold_constant(&op, node, &args).map_err(err)?;
            self.consts.insert(out, folded);
            return Ok(());
        }
        if self.head != Head::Logits {
            return Err(err("a node after the final Softmax/LogSoftmax: the head must be the graph's last node".into()));
        }
        let act_pos: Vec<usize> = (0..inputs.len()).filter(|&i| inputs[i] == self.act.name).collect();
        let unknown: Vec<&str> =
            inputs.iter().copied().filter(|s| *s != self.act.name && !self.consts.contains_key(*s)).collect();
        if !unknown.is_empty() {
            return Err(err(format!(
                "input(s) {unknown:?} are neither the current activation '{}' nor constants; only chain-shaped \
                 graphs are supported",
                self.act.name
            )));
        }
        if act_pos.len() != 1 {
            return Err(err(format!(
                "expected exactly one input to be the activation '{}', found {}; only chain-shaped graphs are \
                 supported",
                self.act.name,
                act_pos.len()
            )));
        }
        let pos = act_pos[0];
        let out = match node.output.as_slice() {
            [o] => o.clone(),
            outs => return Err(err(format!("expected one output, found {}", outs.len()))),
        };
        let consts: Vec<Constant> =
            inputs.iter().enumerate().filter(|&(i, _)| i != pos).map(|(_, s)| self.consts[*s].clone()).collect();
        for (c, s) in consts.iter().zip(inputs.iter().enumerate().filter(|&(i, _)| i != pos).map(|(_, s)| s)) {
            if c.values.iter().any(|v| !v.is_finite()) {
                return Err(err(format!("constant '{s}' contains NaN or infinite values")));
            }
        }
        let needed = match op.as_str() {
            "Reshape" | "MatMul" | "Gemm" | "Add" | "Sub" | "Mul" | "Div" => 1,
            "BatchNormalization" => 4,
            _ => 0,
        };
        if consts.len() < needed {
            return Err(err(format!("expects {needed} constant input(s) besides the activation, found {}", consts.len())));
        }
        match op.as_str() {
            "Identity" => {}
            "Relu" => self.layers.push(Layer::Relu),
            "Flatten" => self.flatten(attr_int(node, "axis", 1)).map_err(err)?,
            "Reshape" => {
                if pos != 0 {
                    return Err(err("the reshaped tensor must be the activation".into()));
                }
                self.reshape(&consts[0], attr_int(node, "allowzero", 0) != 0).map_err(err)?
            }
            "MatMul" => {
                if pos != 0 {
                    return Err(err("constant × activation is not supported; the activation must be the left factor".into()));
                }
                let w = &consts[0];
                if w.dims.len() != 2 {
                    return Err(err(format!("weight must be 2-D, has dims {:?}", w.dims)));
                }
                let (n_in, n_out) = (w.dims[0], w.dims[1]);
                let weight = Array2::from_shape_fn((n_out, n_in), |(o, i)| w.values[i * n_out + o]);
                self.dense(weight, Array1::zeros(n_out)).map_err(err)?;
            }
            "Gemm" => self.gemm(node, pos, &consts).map_err(err)?,
            "Add" | "Sub" | "Mul" | "Div" => self.elementwise(&op, pos, &consts[0]).map_err(err)?,
            "Clip" => self.clip(node, &inputs, pos).map_err(err)?,
            "BatchNormalization" => self.batch_norm(node, pos, &consts).map_err(err)?,
            "Softmax" | "LogSoftmax" => {
                if self.act.shape.len() != 1 {
                    return Err(err(format!("{op} over an activation of per-sample shape {:?}; only a final {op} over flat logits is supported", self.act.shape)));
                }
                let axis = attr_int(node, "axis", if self.opset >= 13 { -1 } else { 1 });
                let rank = self.full_shape().len() as i64;
                if !(axis == -1 || axis == rank - 1) {
                    return Err(err(format!("{op} over axis {axis}; only the class axis (the last) is supported")));
                }
                self.head = if op == "Softmax" { Head::Softmax } else { Head::LogSoftmax };
            }
            other => return Err(err(unsupported(other))),
        }
        self.act.name = out;
        Ok(())
    }

    fn constant_node(&mut self, node: &pb::NodeProto) -> std::result::Result<(), String> {
        let out = node.output.first().ok_or("Constant without output")?.clone();
        let c = if let Some(t) = attr(node, "value").and_then(|a| a.t.as_ref()) {
            decode_tensor(t, "Constant value").map_err(|e| e.to_string())?
        } else if let Some(f) = attr(node, "value_float").and_then(|a| a.f) {
            Constant { dims: vec![], values: vec![f as f64] }
        } else if let Some(a) = attr(node, "value_floats") {
            Constant { dims: vec![a.floats.len()], values: a.floats.iter().map(|&v| v as f64).collect() }
        } else if let Some(i) = attr(node, "value_int").and_then(|a| a.i) {
            Constant { dims: vec![], values: vec![i as f64] }
        } else if let Some(a) = attr(node, "value_ints") {
            Constant { dims: vec![a.ints.len()], values: a.ints.iter().map(|&v| v as f64).collect() }
        } else {
            return Err("Constant has no supported value attribute (value, value_float(s), value_int(s))".into());
        };
        self.consts.insert(out, c);
        Ok(())
    }

    fn full_shape(&self) -> Vec<usize> {
        let mut s = if self.act.batched { vec![1] } else { vec![] };
        s.extend(&self.act.shape);
        s
    }

    fn set_shape(&mut self, shape: Vec<usize>) {
        if shape != self.act.shape {
            self.layers.push(Layer::Reshape { shape: shape.clone() });
        }
        self.act.shape = shape;
    }

    fn flatten(&mut self, axis: i64) -> std::result::Result<(), String> {
        if !self.act.batched {
            return Err("Flatten of an input without a batch dimension is not supported".into());
        }
        let full = self.full_shape();
        let axis = if axis < 0 { axis + full.len() as i64 } else { axis };
        if axis < 1 || axis as usize > full.len() {
            return Err(format!("axis {axis} would merge the batch dimension (shape {full:?})"));
        }
        let lead: usize = full[1..axis as usize].iter().product();
        if lead != 1 {
            return Err(format!("axis {axis} on shape {full:?} would fold sample data into the batch dimension"));
        }
        let n: usize = full[axis as usize..].iter().product();
        self.set_shape(vec![n]);
        Ok(())
    }

    fn reshape(&mut self, target: &Constant, allowzero: bool) -> std::result::Result<(), String> {
        let full = self.full_shape();
        let total: usize = full.iter().product();
        let mut dims: Vec<i64> = target.values.iter().map(|&v| v as i64).collect();
        for (k, d) in dims.iter_mut().enumerate() {
            if *d == 0 && !allowzero {
                *d = *full.get(k).ok_or(format!("shape entry 0 at axis {k} has no input axis to copy"))? as i64;
            }
        }
        let known: i64 = dims.iter().filter(|&&d| d != -1).product();
        let minus = dims.iter().filter(|&&d| d == -1).count();
        if minus > 1 || dims.iter().any(|&d| d < -1) || known == 0 {
            return Err(format!("invalid target shape {:?}", target.values));
        }
        if minus == 1 {
            if total as i64 % known != 0 {
                return Err(format!("cannot reshape {full:?} to {:?}", target.values));
            }
            let fill = total as i64 / known;
            dims.iter_mut().filter(|d| **d == -1).for_each(|d| *d = fill);
        }
        let new: Vec<usize> = dims.iter().map(|&d| d as usize).collect();
        if new.iter().product::<usize>() != total {
            return Err(format!("cannot reshape {full:?} ({total} values) to {new:?}"));
        }
        let sample = if self.act.batched {
            if new.first() != Some(&1) {
                return Err(format!("reshape to {new:?} does not keep the batch dimension first"));
            }
            new[1..].to_vec()
        } else {
            new
        };
        self.set_shape(sample);
        Ok(())
    }

    fn gemm(&mut self, node: &pb::NodeProto, pos: usize, consts: &[Constant]) -> std::result::Result<(), String> {
        if pos != 0 {
            return Err("only the A input of Gemm may be the activation".into());
        }
        if attr_int(node, "transA", 0) != 0 {
            return Err("transA = 1 on the activation is not supported".into());
        }
        let (alpha, beta) = (attr_float(node, "alpha", 1.0), attr_float(node, "beta", 1.0));
        let b = &consts[0];
        if b.dims.len() != 2 {
            return Err(format!("B must be 2-D, has dims {:?}", b.dims));
        }
        let trans_b = attr_int(node, "transB", 0) != 0;
        let (n_out, n_in) = if trans_b { (b.dims[0], b.dims[1]) } else { (b.dims[1], b.dims[0]) };
        let weight = Array2::from_shape_fn((n_out, n_in), |(o, i)| {
            alpha * if trans_b { b.values[o * n_in + i] } else { b.values[i * n_out + o] }
        });
        let bias = match consts.get(1) {
            None => Array1::zeros(n_out),
            Some(c) => {
                let v = broadcast(c, &[n_out]).map_err(|e| format!("C: {e}"))?;
                Array1::from_iter(v.into_iter().map(|x| beta * x))
            }
        };
        self.dense(weight, bias)
    }

    /// Clip with min 0 and no upper limit is max(0, h): a ReLU. Any other clip is refused.
    fn clip(&mut self, node: &pb::NodeProto, inputs: &[&str], pos: usize) -> std::result::Result<(), String> {
        if pos != 0 {
            return Err("the clipped tensor must be the activation".into());
        }
        // opset ≥ 11: min and max are optional inputs; before, attributes
        let named = |i: usize| node.input.get(i).map(|s| s.as_str()).filter(|s| !s.is_empty());
        let scalar = |name: &str| -> std::result::Result<f64, String> {
            let c = &self.consts[name];
            match c.values.as_slice() {
                [v] => Ok(*v),
                _ => Err(format!("Clip bound '{name}' must be a scalar")),
            }
        };
        let (lo, hi) = if self.opset >= 11 {
            (named(1).map(scalar).transpose()?, named(2).map(scalar).transpose()?)
        } else {
            (attr(node, "min").and_then(|a| a.f).map(|f| f as f64), attr(node, "max").and_then(|a| a.f).map(|f| f as f64))
        };
        let _ = inputs;
        let no_upper = hi.is_none_or(|h| h == f64::INFINITY || h >= f32::MAX as f64);
        match lo {
            Some(l) if l == 0.0 && no_upper => {
                self.layers.push(Layer::Relu);
                Ok(())
            }
            _ => Err(format!(
                "Clip({}, {}) is not supported: only Clip(min = 0) with no maximum, which is ReLU (clamp(min=0)); \
                 for a bounded activation such as ReLU6, export a plain ReLU",
                lo.map_or("−∞".into(), |v| v.to_string()),
                hi.map_or("∞".into(), |v| v.to_string())
            )),
        }
    }

    /// BatchNormalization in inference mode, y = (h − mean)/√(var + ε)·scale + B, as four exact
    /// elementwise layers (each folded into the previous affine layer only where that is exact).
    fn batch_norm(&mut self, node: &pb::NodeProto, pos: usize, consts: &[Constant]) -> std::result::Result<(), String> {
        if pos != 0 || consts.len() != 4 {
            return Err("expected inputs X (the activation), scale, B, mean, var".into());
        }
        if attr_int(node, "training_mode", 0) != 0 {
            return Err("training_mode = 1: export the model in eval mode (model.eval())".into());
        }
        if node.output.len() > 1 {
            return Err("running-statistics outputs (training mode): export the model in eval mode".into());
        }
        let eps = attr_float(node, "epsilon", 1e-5);
        let n: usize = self.act.shape.iter().product();
        // the channel axis is 1 in ONNX (the only axis of a flat activation)
        let per = |c: &Constant, what: &str| -> std::result::Result<Vec<f64>, String> {
            let ch = if self.act.shape.len() == 1 { n } else { self.act.shape[0] };
            if c.values.len() != ch {
                return Err(format!("{what} has {} values for {ch} channels", c.values.len()));
            }
            // broadcast per channel over the remaining per-sample axes
            let inner = n / ch;
            Ok((0..n).map(|i| c.values[i / inner]).collect())
        };
        let (scale, bias, mean, var) = (per(&consts[0], "scale")?, per(&consts[1], "B")?, per(&consts[2], "mean")?, per(&consts[3], "var")?);
        let mut denom = Vec::with_capacity(n);
        for &v in &var {
            let s = v + eps;
            // var + ε must be exact in f64 to keep the network exact (float32 values almost always are)
            let bb = s - v;
            if (v - (s - bb)) + (eps - bb) != 0.0 || !(s > 0.0) {
                return Err(format!("var + epsilon = {v} + {eps} is not a positive binary64 number exactly"));
            }
            denom.push(s);
        }
        for (op, values) in [(ElemOp::Sub, mean), (ElemOp::DivSqrt, denom), (ElemOp::Mul, scale), (ElemOp::Add, bias)] {
            let layer = Elementwise::new(op, Array1::from(values)).map_err(|e| e.to_string())?;
            self.push_elementwise(layer);
        }
        Ok(())
    }

    /// Appends W·h + b.
    fn dense(&mut self, weight: Array2<f64>, bias: Array1<f64>) -> std::result::Result<(), String> {
        if self.act.shape.len() != 1 {
            return Err(format!(
                "the activation has per-sample shape {:?}; dense layers need a flat [batch, n] input (add Flatten)",
                self.act.shape
            ));
        }
        if weight.ncols() != self.act.shape[0] {
            return Err(format!("weight takes {} inputs but the activation has {}", weight.ncols(), self.act.shape[0]));
        }
        self.act.shape = vec![weight.nrows()];
        self.layers.push(Layer::Affine(Affine::new(weight, bias)));
        Ok(())
    }

    /// Appends the exact elementwise map of an Add/Sub/Mul/Div node whose other input is constant `c`
    /// (broadcast to the activation); `pos` is the activation's input position.
    fn elementwise(&mut self, op: &str, pos: usize, c: &Constant) -> std::result::Result<(), String> {
        let full = self.full_shape();
        let v = Array1::from(broadcast(c, &full)?);
        let op = match (op, pos) {
            ("Add", _) => ElemOp::Add,
            ("Sub", 0) => ElemOp::Sub,
            ("Sub", _) => ElemOp::SubFrom,
            ("Mul", _) => ElemOp::Mul,
            ("Div", 0) => ElemOp::Div,
            _ => return Err("dividing a constant by the activation is not affine".into()),
        };
        let layer = Elementwise::new(op, v).map_err(|e| e.to_string().trim_start_matches("ONNX model: ").to_string())?;
        self.push_elementwise(layer);
        Ok(())
    }

    /// Appends an elementwise layer — folded into an affine layer just before it (reshapes aside) when
    /// every folded weight and bias is exact in f64 (e.g. MatMul then Add: 0 + b).
    fn push_elementwise(&mut self, layer: Elementwise) {
        // x ± 0, x·1, x/1 are the identity exactly (ACAS Xu's input Sub subtracts zeros)
        let identity = match layer.op {
            ElemOp::Add | ElemOp::Sub => layer.value.iter().all(|&v| v == 0.0),
            ElemOp::Mul | ElemOp::Div | ElemOp::DivSqrt => layer.value.iter().all(|&v| v == 1.0),
            ElemOp::SubFrom => false,
        };
        if identity {
            return;
        }
        if let Some(Layer::Affine(a)) = self.layers.iter_mut().rev().find(|l| !matches!(l, Layer::Reshape { .. })) {
            if let Some(folded) = fold_exactly(a, &layer) {
                *a = folded;
                return;
            }
        }
        self.layers.push(Layer::Elementwise(layer));
    }
}

/// The affine layer followed by the elementwise map, as one affine layer — only when every weight and
/// bias of the composition is computed exactly in f64 (checked by error-free transformations: TwoSum for
/// sums, FMA residuals for products and quotients), so the network is unchanged as a real function.
fn fold_exactly(a: &Affine, e: &Elementwise) -> Option<Affine> {
    let exact_sum = |x: f64, y: f64| {
        let s = x + y;
        let bb = s - x;
        let err = (x - (s - bb)) + (y - bb);
        (s.is_finite() && err == 0.0).then_some(s)
    };
    let exact_mul = |x: f64, y: f64| {
        let p = x * y;
        (p.is_finite() && x.mul_add(y, -p) == 0.0 && (p != 0.0 || x == 0.0 || y == 0.0)).then_some(p)
    };
    let exact_div = |x: f64, y: f64| {
        let q = x / y;
        (q.is_finite() && q.mul_add(y, -x) == 0.0 && (q != 0.0 || x == 0.0)).then_some(q)
    };
    let mut out = a.clone();
    for (j, (mut row, b)) in out.weight.rows_mut().into_iter().zip(out.bias.iter_mut()).enumerate() {
        let v = e.value[j];
        match e.op {
            ElemOp::Add => *b = exact_sum(*b, v)?,
            ElemOp::Sub => *b = exact_sum(*b, -v)?,
            ElemOp::SubFrom => {
                row.mapv_inplace(|w| -w);
                *b = exact_sum(-*b, v)?;
            }
            ElemOp::DivSqrt => return None,
            ElemOp::Mul | ElemOp::Div => {
                let f = |x: f64| if e.op == ElemOp::Mul { exact_mul(x, v) } else { exact_div(x, v) };
                for w in row.iter_mut() {
                    *w = f(*w)?;
                }
                *b = f(*b)?;
            }
        }
    }
    Some(out)
}

/// Broadcasts a constant to `full` (numpy rules, right-aligned) and returns it flattened, without any
/// batch axis. The constant may not vary along the batch axis.
fn broadcast(c: &Constant, full: &[usize]) -> std::result::Result<Vec<f64>, String> {
    // leading axes of size 1 beyond the activation's rank broadcast away (Gemm's C of shape [1, N])
    let extra = c.dims.len().saturating_sub(full.len());
    let c = &if extra > 0 && c.dims[..extra].iter().all(|&d| d == 1) { Constant { dims: c.dims[extra..].to_vec(), values: c.values.clone() } } else { c.clone() };
    if c.dims.len() > full.len() {
        return Err(format!("constant of dims {:?} has more axes than the activation {full:?}", c.dims));
    }
    let off = full.len() - c.dims.len();
    for (k, &d) in c.dims.iter().enumerate() {
        if d != 1 && d != full[off + k] {
            return Err(format!("constant of dims {:?} does not broadcast to the activation shape {full:?}", c.dims));
        }
    }
    let n: usize = full.iter().product();
    let mut out = Vec::with_capacity(n);
    let mut idx = vec![0usize; full.len()];
    for _ in 0..n {
        let mut flat = 0;
        for (k, &d) in c.dims.iter().enumerate() {
            flat = flat * d + if d == 1 { 0 } else { idx[off + k] };
        }
        out.push(c.values[flat]);
        for ax in (0..full.len()).rev() {
            idx[ax] += 1;
            if idx[ax] < full[ax] {
                break;
            }
            idx[ax] = 0;
        }
    }
    Ok(out)
}

/// Why an op is refused, with what would work instead.
fn unsupported(op: &str) -> String {
    let hint = match op {
        "Sigmoid" | "Tanh" | "Softsign" | "Softplus" | "Elu" | "Selu" | "Gelu" | "HardSigmoid" | "HardSwish" => {
            "rp certifies piecewise-linear ReLU networks; train with ReLU (or Clip(min=0)) activations"
        }
        "LeakyRelu" | "PRelu" => "not supported yet: use ReLU activations",
        "Conv" | "ConvTranspose" | "MaxPool" | "AveragePool" | "GlobalAveragePool" => "convolutional networks are not supported; dense (Gemm/MatMul) MLPs are",
        "Dropout" => "export the model in eval mode (model.eval()), which removes Dropout",
        _ => "supported: MatMul, Gemm, Add, Sub, Mul, Div, Relu, Clip(min=0), BatchNormalization (eval), Flatten, Reshape, Identity, a final Softmax/LogSoftmax, and shape arithmetic on constants",
    };
    format!("op {op} is not supported: {hint}")
}

/// The slice of a Shape node's result (opset 15 `start`/`end` attributes).
fn slice_shape(c: Constant, node: &pb::NodeProto) -> std::result::Result<Constant, String> {
    let n = c.values.len() as i64;
    let norm = |v: i64| if v < 0 { (v + n).max(0) } else { v.min(n) } as usize;
    let (start, end) = (norm(attr_int(node, "start", 0)), norm(attr_int(node, "end", n)));
    let values: Vec<f64> = if start < end { c.values[start..end].to_vec() } else { vec![] };
    Ok(Constant { dims: vec![values.len()], values })
}

/// Evaluates a node whose inputs are all constants (shape arithmetic): Gather, Unsqueeze, Squeeze,
/// Concat, Cast, Identity, Shape, and Add/Sub/Mul/Div of equal shapes or with a scalar.
fn fold_constant(op: &str, node: &pb::NodeProto, args: &[Constant]) -> std::result::Result<Constant, String> {
    let axes_of = |c: Option<&Constant>| -> Vec<i64> {
        match c {
            Some(c) => c.values.iter().map(|&v| v as i64).collect(),
            None => attr(node, "axes").map(|a| a.ints.clone()).unwrap_or_default(),
        }
    };
    match op {
        "Identity" | "Cast" => Ok(args[0].clone()),
        "Shape" => slice_shape(Constant { dims: vec![args[0].dims.len()], values: args[0].dims.iter().map(|&d| d as f64).collect() }, node),
        "Gather" => {
            let (data, idx) = (&args[0], args.get(1).ok_or("Gather needs indices")?);
            if data.dims.len() > 1 || attr_int(node, "axis", 0) != 0 {
                return Err("Gather on constants is supported for 1-D data along axis 0 (shape arithmetic)".into());
            }
            let n = data.values.len() as i64;
            let values = idx
                .values
                .iter()
                .map(|&i| {
                    let i = i as i64;
                    let j = if i < 0 { i + n } else { i };
                    (0..n).contains(&j).then(|| data.values[j as usize]).ok_or(format!("Gather index {i} out of range for {n} values"))
                })
                .collect::<std::result::Result<Vec<f64>, String>>()?;
            Ok(Constant { dims: idx.dims.clone(), values })
        }
        "Unsqueeze" => {
            let mut dims = args[0].dims.clone();
            let mut axes = axes_of(args.get(1));
            let rank = (dims.len() + axes.len()) as i64;
            for a in axes.iter_mut() {
                if *a < 0 {
                    *a += rank;
                }
            }
            axes.sort_unstable();
            for &a in &axes {
                if a < 0 || a as usize > dims.len() {
                    return Err(format!("Unsqueeze axis {a} out of range"));
                }
                dims.insert(a as usize, 1);
            }
            Ok(Constant { dims, values: args[0].values.clone() })
        }
        "Squeeze" => {
            let rank = args[0].dims.len() as i64;
            let axes: Vec<usize> = axes_of(args.get(1)).iter().map(|&a| if a < 0 { a + rank } else { a } as usize).collect();
            let dims = args[0].dims.iter().enumerate().filter(|&(k, &d)| !(d == 1 && (axes.is_empty() || axes.contains(&k)))).map(|(_, &d)| d).collect();
            Ok(Constant { dims, values: args[0].values.clone() })
        }
        "Concat" => {
            if args.iter().any(|c| c.dims.len() > 1) {
                return Err("Concat on constants is supported for 1-D (or scalar) tensors (shape arithmetic)".into());
            }
            let values: Vec<f64> = args.iter().flat_map(|c| c.values.iter().copied()).collect();
            Ok(Constant { dims: vec![values.len()], values })
        }
        "Add" | "Sub" | "Mul" | "Div" if args.len() == 2 => {
            let (a, b) = (&args[0], &args[1]);
            let n = a.values.len().max(b.values.len());
            let get = |c: &Constant, i: usize| if c.values.len() == 1 { Some(c.values[0]) } else { c.values.get(i).copied() };
            if !(a.values.len() == b.values.len() || a.values.len() == 1 || b.values.len() == 1) {
                return Err(format!("{op} of constants of dims {:?} and {:?}", a.dims, b.dims));
            }
            let values = (0..n)
                .map(|i| {
                    let (x, y) = (get(a, i).unwrap(), get(b, i).unwrap());
                    match op {
                        "Add" => x + y,
                        "Sub" => x - y,
                        "Mul" => x * y,
                        _ => x / y,
                    }
                })
                .collect();
            Ok(Constant { dims: if a.values.len() >= b.values.len() { a.dims.clone() } else { b.dims.clone() }, values })
        }
        other => Err(format!("op {other} on constant inputs is not supported (shape arithmetic supports Shape, Gather, Unsqueeze, Squeeze, Concat, Cast, Identity, Add/Sub/Mul/Div)")),
    }
}
