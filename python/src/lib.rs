//! `rp._rp`, the extension module behind the `rp` Python package: a network loaded from ONNX, its
//! forward pass, logit bounds and certificates on numpy arrays. Options arrive as the command line's
//! words (the Python layer turns keyword arguments into `--name value`) and are parsed by the CLI's own
//! clap structs and turned into certifiers by the CLI's own `build_certifier`, compiled in from
//! `../src/cli`: names, defaults, checks and error messages are the CLI's, and so are the results, bit
//! for bit. The GIL is released while rp computes.
use ndarray::{Array1, Array2};
use numpy::{IntoPyArray, PyArray2, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

#[allow(dead_code, unused_imports)]
#[path = "../../src/cli/mod.rs"]
mod cli;

/// The CLI's allocator (mimalloc reuses the pages of the batched passes' large temporaries), so that a
/// call from Python costs what the same command costs.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{FromArgMatches, Parser, Subcommand};
use cli::args::{AlphaArgs, Given, MethodArg, MethodOpts};
use rp::cert::{Batch, Certifier};
use rp::data::card::ModelCard;
use rp::net::Network;
use rp::spec::{DomainBox, Norm};

/// The options of `certify` and `bounds` that name no files, as `rp <command> --name value …`.
#[derive(Parser)]
#[command(name = "rp", no_binary_name = false)]
struct Words {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Certify(CertifyOpts),
    Bounds(BoundsOpts),
    Verify(cli::verify::VerifyArgs),
}

#[derive(clap::Args)]
struct CertifyOpts {
    #[arg(long, value_enum, default_value_t = MethodArg::Crown)]
    method: MethodArg,
    #[command(flatten)]
    opts: MethodOpts,
    #[command(flatten)]
    domain: DomainOpts,
}

#[derive(clap::Args)]
struct BoundsOpts {
    /// Norm of the perturbation ball.
    #[arg(long, value_enum, default_value_t = Norm::Linf)]
    norm: Norm,
    #[arg(long, value_enum, default_value_t = MethodArg::Crown)]
    method: MethodArg,
    #[command(flatten)]
    alpha: AlphaArgs,
    #[command(flatten)]
    domain: DomainOpts,
}

#[derive(clap::Args)]
struct DomainOpts {
    /// Lower end of the valid input range, for every input (give with --domain-hi).
    #[arg(long, requires = "domain_hi", allow_hyphen_values = true)]
    domain_lo: Option<f64>,
    /// Upper end of the valid input range, for every input (give with --domain-lo).
    #[arg(long, requires = "domain_lo", allow_hyphen_values = true)]
    domain_hi: Option<f64>,
}

impl DomainOpts {
    fn domain(&self, dim: usize) -> anyhow::Result<Option<DomainBox>> {
        Ok(match (self.domain_lo, self.domain_hi) {
            (Some(lo), Some(hi)) => Some(DomainBox::uniform(dim, lo, hi)?),
            _ => None,
        })
    }
}

/// Parses `words` (without the program name) as the CLI does: the command, what was given explicitly.
fn parse(words: Vec<String>) -> PyResult<(Command, Given)> {
    let argv = std::iter::once("rp".to_string()).chain(words);
    let matches = <Words as clap::CommandFactory>::command().try_get_matches_from(argv).map_err(|e| PyValueError::new_err(clean(e.to_string())))?;
    let given = Given::of(&matches);
    let w = Words::from_arg_matches(&matches).map_err(|e| PyValueError::new_err(clean(e.to_string())))?;
    Ok((w.command, given))
}

/// clap's message without its usage lines (they show `rp certify`, not the Python call).
fn clean(msg: String) -> String {
    msg.split("\n\nUsage:").next().unwrap_or(&msg).trim().trim_start_matches("error: ").to_string()
}

fn value_error(e: impl std::fmt::Display) -> PyErr {
    PyValueError::new_err(e.to_string())
}

fn anyhow_error(e: anyhow::Error) -> PyErr {
    PyValueError::new_err(format!("{e:#}"))
}

/// A network read from ONNX (with its model card, if any).
#[pyclass(module = "rp._rp", frozen)]
struct Network_ {
    net: Network,
    card: Option<ModelCard>,
    /// Input names: the card's, or x0, x1, …
    header: Vec<String>,
}

#[pymethods]
impl Network_ {
    /// Reads an ONNX file.
    #[staticmethod]
    fn from_path(path: std::path::PathBuf) -> PyResult<Self> {
        let net = rp::net::read_onnx(&path).map_err(value_error)?;
        Ok(Self::bare(net))
    }

    /// Reads an ONNX model from its bytes.
    #[staticmethod]
    fn from_bytes(bytes: &[u8]) -> PyResult<Self> {
        let net = rp::net::read_onnx_bytes(bytes).map_err(value_error)?;
        Ok(Self::bare(net))
    }

    /// The same network with the model card at `path` (checked against the network's input width).
    fn with_card(&self, path: std::path::PathBuf) -> PyResult<Self> {
        let card = ModelCard::read(&path).map_err(value_error)?;
        if card.input_dim() != self.net.input_dim() {
            return Err(PyValueError::new_err(format!(
                "the card {} describes {} model inputs but the model takes {}",
                path.display(),
                card.input_dim(),
                self.net.input_dim()
            )));
        }
        Ok(Network_ { net: self.net.clone(), header: card.input_names(), card: Some(card) })
    }

    #[getter]
    fn input_dim(&self) -> usize {
        self.net.input_dim()
    }

    #[getter]
    fn output_dim(&self) -> usize {
        self.net.output_dim()
    }

    #[getter]
    fn input_names(&self) -> Vec<String> {
        self.header.clone()
    }

    /// The card's class names (empty without a card).
    #[getter]
    fn classes(&self) -> Vec<String> {
        self.card.as_ref().map(|c| c.classes.clone()).unwrap_or_default()
    }

    /// One line: shape, layers, ReLUs.
    fn describe(&self) -> String {
        self.net.describe()
    }

    /// The network written back as ONNX bytes (rp's writer).
    fn to_onnx<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, pyo3::types::PyBytes>> {
        let bytes = rp::net::write_onnx_bytes(&self.net).map_err(value_error)?;
        Ok(pyo3::types::PyBytes::new(py, &bytes))
    }

    /// Model inputs of the raw records in the CSV file at `path`, mapped by the card.
    fn inputs_from_records<'py>(&self, py: Python<'py>, path: std::path::PathBuf) -> PyResult<Bound<'py, PyArray2<f64>>> {
        let Some(card) = &self.card else { return Err(PyValueError::new_err("raw records need a model card: Model.load(path, card=...)")) };
        let raw = rp::data::raw::RawTable::read(&path).map_err(value_error)?;
        Ok(card.transform_table(&raw, &path).map_err(value_error)?.into_pyarray(py))
    }

    /// The network's outputs (rows × outputs), in f64.
    fn forward<'py>(&self, py: Python<'py>, x: PyReadonlyArray2<'py, f64>) -> PyResult<Bound<'py, PyArray2<f64>>> {
        let x = self.rows(x)?;
        let out = py.allow_threads(|| self.net.forward_batch(x.view()));
        Ok(out.into_pyarray(py))
    }

    /// Sound lower and upper bounds of every output over each row's ball of radius eps[row]; `words`
    /// are `rp bounds`' options.
    fn bounds<'py>(&self, py: Python<'py>, x: PyReadonlyArray2<'py, f64>, eps: PyReadonlyArray1<'py, f64>, words: Vec<String>) -> PyResult<(Bound<'py, PyArray2<f64>>, Bound<'py, PyArray2<f64>>)> {
        let x = self.rows(x)?;
        let eps = eps.as_array().to_owned();
        if eps.len() != x.nrows() {
            return Err(PyValueError::new_err(format!("eps has {} entries for {} rows; give one number or one per row", eps.len(), x.nrows())));
        }
        if let Some(e) = eps.iter().find(|e| !(e.is_finite() && **e >= 0.0)) {
            return Err(PyValueError::new_err(format!("eps must be finite numbers ≥ 0, got {e}")));
        }
        let Command::Bounds(o) = parse(prefixed("bounds", words))?.0 else { unreachable!("parsed as bounds") };
        let method = cli::args::method(o.method, &o.alpha, rp::bound::Intermediate::AutoLirpa).map_err(anyhow_error)?;
        let domain = o.domain.domain(self.net.input_dim()).map_err(anyhow_error)?;
        let ids: Vec<usize> = (0..x.nrows()).collect();
        let batch = Batch { inputs: x.view(), row_ids: &ids };
        batch.check_domain(domain.as_ref()).map_err(value_error)?;
        batch.finite_outputs(&self.net).map_err(value_error)?;
        let (lower, upper) = py.allow_threads(|| {
            let regions = rp::bound::RegionBatch { centers: x.view(), eps: eps.view(), norm: o.norm, domain: domain.as_ref(), boxes: None };
            let b = method.logit_bounds_batch(&self.net, &regions);
            (b.lower.clone(), b.upper.clone())
        });
        Ok((lower.into_pyarray(py), upper.into_pyarray(py)))
    }

    /// Certificates of the rows of `x` (numbered `row_ids`, which seed smoothing's noise as the CLI's
    /// row numbers do); `words` are `rp certify`'s options. Returns the columns as a dict.
    fn certify<'py>(&self, py: Python<'py>, x: PyReadonlyArray2<'py, f64>, row_ids: Vec<usize>, words: Vec<String>) -> PyResult<Bound<'py, PyDict>> {
        let x = self.rows(x)?;
        if row_ids.len() != x.nrows() {
            return Err(PyValueError::new_err(format!("{} row ids for {} rows", row_ids.len(), x.nrows())));
        }
        let (Command::Certify(mut o), given) = parse(prefixed("certify", words))? else { unreachable!("parsed as certify") };
        cli::args::check_applicable(&given, &[o.method]).map_err(anyhow_error)?;
        let norm = cli::certify::norm_for(&[o.method], o.opts.norm).map_err(anyhow_error)?;
        let raw = cli::certify::raw_units(o.method, &mut o.opts, self.card.as_ref()).map_err(anyhow_error)?;
        let domain = o.domain.domain(self.net.input_dim()).map_err(anyhow_error)?;
        let (net, decision) = o.opts.classifier(self.net.clone()).map_err(anyhow_error)?;
        let certifier: Box<dyn Certifier> = cli::certify::build_certifier(o.method, &o.opts, norm, net, decision, domain, &self.header).map_err(anyhow_error)?;
        let certs = py.allow_threads(|| certifier.certify(Batch { inputs: x.view(), row_ids: &row_ids }, &rp::progress::NoProgress)).map_err(value_error)?;
        let records: Vec<rp::report::CertificateRecord> = certs.iter().map(rp::report::CertificateRecord::from).collect();
        let out = PyDict::new(py);
        out.set_item("method", certifier.method())?;
        out.set_item("extent", certifier.extent().as_str())?;
        out.set_item("row", Array1::from_iter(certs.iter().map(|c| c.row as i64)).into_pyarray(py))?;
        let label = certs.iter().map(|c| match c.answer() {
            rp::cert::Answer::Abstain => -1,
            rp::cert::Answer::Class(k) => k as i64,
        });
        out.set_item("label", Array1::from_iter(label).into_pyarray(py))?;
        out.set_item("radius", Array1::from_iter(records.iter().map(|r| r.radius)).into_pyarray(py))?;
        out.set_item("guarantee", records.iter().map(|r| r.guarantee.clone()).collect::<Vec<_>>())?;
        out.set_item("radius_upper", Array1::from_iter(records.iter().map(|r| r.radius_upper.unwrap_or(f64::NAN))).into_pyarray(py))?;
        out.set_item("alpha", Array1::from_iter(records.iter().map(|r| r.alpha.unwrap_or(f64::NAN))).into_pyarray(py))?;
        out.set_item("time", Array1::from_iter(certs.iter().map(|c| c.time.as_secs_f64())).into_pyarray(py))?;
        if let Some((name, std)) = raw {
            out.set_item("raw_attribute", name)?;
            out.set_item("radius_raw", Array1::from_iter(certs.iter().map(|c| c.radius().map_or(0.0, |r| r.scaled(std).value()))).into_pyarray(py))?;
        }
        Ok(out)
    }

    /// Decides a VNN-LIB property (`text`: its contents) as `rp verify`; `words` are its options
    /// (timeout, split, …). Returns the verdict as `rp verify` words it (unsat, sat, timeout, unknown), the VNN-COMP
    /// result text, the counterexample (input, output; checked) when violated, seconds, sub-domains.
    fn verify<'py>(&self, py: Python<'py>, text: &str, words: Vec<String>) -> PyResult<Bound<'py, PyDict>> {
        // the parser wants --model/--property; the network and the text are given here instead
        let argv = ["verify", "--model", "-", "--property", "-"].into_iter().map(String::from).chain(words).collect();
        let (Command::Verify(a), given) = parse(argv)? else { unreachable!("parsed as verify") };
        let verifier = cli::verify::verifier(&a, &given).map_err(anyhow_error)?;
        let budget = cli::verify::budget(&a, None).map_err(anyhow_error)?;
        let prop = rp::vnnlib::parse_vnnlib(text).map_err(value_error)?;
        let o = py.allow_threads(|| rp::verify::Verifier::verify(&verifier, &self.net, &prop, &budget)).map_err(value_error)?;
        let out = PyDict::new(py);
        out.set_item("verdict", o.verdict.word())?;
        out.set_item("result", rp::verify::result_text(&o.verdict))?;
        out.set_item("seconds", o.seconds)?;
        out.set_item("domains", o.domains)?;
        match &o.verdict {
            rp::verify::Verdict::Violated(c) => {
                out.set_item("counterexample", (Array1::from(c.input.clone()).into_pyarray(py), Array1::from(c.output.clone()).into_pyarray(py)))?;
            }
            rp::verify::Verdict::Unknown(why) => out.set_item("reason", why)?,
            rp::verify::Verdict::Holds | rp::verify::Verdict::Timeout => {}
        }
        Ok(out)
    }
}

impl Network_ {
    fn bare(net: Network) -> Self {
        let header = (0..net.input_dim()).map(|k| format!("x{k}")).collect();
        Network_ { net, card: None, header }
    }

    /// The rows of `x` as an owned array, checked for width and finite entries (as the CLI's CSV reader).
    fn rows(&self, x: PyReadonlyArray2<'_, f64>) -> PyResult<Array2<f64>> {
        let x = x.as_array();
        if x.ncols() != self.net.input_dim() {
            return Err(PyValueError::new_err(format!("the inputs have {} columns but the model takes {} inputs", x.ncols(), self.net.input_dim())));
        }
        if let Some(((i, j), v)) = x.indexed_iter().find(|(_, v)| !v.is_finite()) {
            return Err(PyValueError::new_err(format!("input row {i}, column {j} is {v}, not a finite number; fix the data")));
        }
        Ok(x.as_standard_layout().into_owned())
    }
}

fn prefixed(command: &str, words: Vec<String>) -> Vec<String> {
    std::iter::once(command.to_string()).chain(words).collect()
}

/// Sets the number of worker threads (once, before any computation; default: all cores).
#[pyfunction]
fn set_threads(n: usize) -> PyResult<()> {
    let (t, note) = rp::limits::threads(n);
    if let Some(note) = note {
        eprintln!("{note}");
    }
    rayon::ThreadPoolBuilder::new()
        .num_threads(t)
        .build_global()
        .map_err(|e| PyValueError::new_err(format!("the thread pool is already running ({e}); call rp.set_threads before any computation")))
}

#[pymodule]
fn _rp(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Network_>()?;
    m.add_function(wrap_pyfunction!(set_threads, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
