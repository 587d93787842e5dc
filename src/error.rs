//! Library error type: every variant names the offending thing and, where there is one, the fix.
use std::path::PathBuf;

/// Errors of the `rp` library. Messages are meant to be shown to a user as they are.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {path}: {err}")]
    Io { path: PathBuf, err: std::io::Error },
    #[error("{path} is not a valid ONNX model (protobuf decoding failed: {err})")]
    OnnxDecode { path: PathBuf, err: prost::DecodeError },
    #[error("ONNX node '{node}' (op {op}): {reason}")]
    OnnxNode { node: String, op: String, reason: String },
    #[error("ONNX model: {0}")]
    OnnxModel(String),
    #[error("ONNX export: {0}")]
    OnnxWrite(String),
    #[error("{path}, line {line}, column {column}: {reason}")]
    Csv { path: PathBuf, line: u64, column: usize, reason: String },
    #[error("{path}: {reason}")]
    Data { path: PathBuf, reason: String },
    #[error("input row {row} has {got} values but the model takes {expected} inputs")]
    InputShape { row: usize, got: usize, expected: usize },
    #[error("invalid option: {0}")]
    Option(String),
    #[error("row {row}: {what} is not finite (±∞ or NaN); f64 overflows for this input — rescale it (no radius is given from a non-finite value)")]
    NonFinite { row: usize, what: String },
    #[error("internal error (a bug in rp; please report it): {0}")]
    Internal(String),
}

/// Result alias for the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;
