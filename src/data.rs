//! Input CSV: a header row, then one model input per row with the model's inputs in order. Every
//! malformed cell is an error naming its line and column.
use crate::{Error, Result};
use ndarray::Array2;
use std::path::Path;

/// A table of model inputs read from CSV.
#[derive(Clone, Debug)]
pub struct InputTable {
    pub header: Vec<String>,
    pub rows: Array2<f64>,
}

/// Reads `path` and checks that every row has `expected_cols` finite numbers.
pub fn read_inputs(path: &Path, expected_cols: usize) -> Result<InputTable> {
    let file = std::fs::File::open(path).map_err(|err| Error::Io { path: path.into(), err })?;
    read_inputs_from(file, path, expected_cols)
}

/// As [`read_inputs`], from any reader (`path` only names the source in errors).
pub fn read_inputs_from(reader: impl std::io::Read, path: &Path, expected_cols: usize) -> Result<InputTable> {
    let mut rdr = csv::ReaderBuilder::new().has_headers(true).flexible(true).trim(csv::Trim::All).from_reader(reader);
    let csv_err = |line: u64, column: usize, reason: String| Error::Csv { path: path.into(), line, column, reason };
    let header: Vec<String> = rdr.headers().map_err(|e| csv_err(1, 0, e.to_string()))?.iter().map(String::from).collect();
    if header.len() != expected_cols {
        return Err(csv_err(
            1,
            0,
            format!("the header has {} columns but the model takes {expected_cols} inputs", header.len()),
        ));
    }
    let mut values = Vec::new();
    let mut n = 0;
    for rec in rdr.records() {
        let rec = rec.map_err(|e| csv_err(e.position().map_or(0, |p| p.line()), 0, e.to_string()))?;
        let line = rec.position().map_or(0, |p| p.line());
        if rec.len() != expected_cols {
            return Err(csv_err(line, rec.len().min(expected_cols) + 1, format!("expected {expected_cols} values, found {}", rec.len())));
        }
        for (k, cell) in rec.iter().enumerate() {
            let v: f64 = cell.parse().map_err(|_| csv_err(line, k + 1, format!("'{cell}' ({}) is not a number", header[k])))?;
            if !v.is_finite() {
                return Err(csv_err(line, k + 1, format!("'{cell}' ({}) is not finite", header[k])));
            }
            values.push(v);
        }
        n += 1;
    }
    if n == 0 {
        return Err(Error::Data { path: path.into(), reason: "no data rows after the header".into() });
    }
    Ok(InputTable { header, rows: Array2::from_shape_vec((n, expected_cols), values).expect("row lengths checked") })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(s: &str, cols: usize) -> Result<InputTable> {
        read_inputs_from(s.as_bytes(), Path::new("x.csv"), cols)
    }

    #[test]
    fn reads_rows() {
        let t = read("a,b\n1,2\n3.5,-4e-1\n", 2).unwrap();
        assert_eq!(t.rows.shape(), &[2, 2]);
        assert_eq!(t.rows[[1, 1]], -0.4);
    }

    #[test]
    fn errors_name_line_and_column() {
        let e = read("a,b\n1,2\n3,x\n", 2).unwrap_err().to_string();
        assert!(e.contains("line 3, column 2") && e.contains("'x' (b) is not a number"), "{e}");
        let e = read("a,b\n1,NaN\n", 2).unwrap_err().to_string();
        assert!(e.contains("line 2, column 2") && e.contains("not finite"), "{e}");
        let e = read("a,b\n1,2,3\n", 2).unwrap_err().to_string();
        assert!(e.contains("line 2") && e.contains("expected 2 values, found 3"), "{e}");
        let e = read("a,b,c\n1,2,3\n", 2).unwrap_err().to_string();
        assert!(e.contains("header has 3 columns"), "{e}");
        assert!(read("a,b\n", 2).is_err());
    }
}
