//! Input CSV: a header row, then one model input per row with the model's inputs in order, and
//! optionally one column named `label` (a true class index, used for accuracy and Cohen-style output).
//! Every malformed cell is an error naming its line and column.
pub mod card;
pub mod digits;
pub mod raw;
pub mod synth;

use crate::{Error, Result};
use ndarray::Array2;
use std::path::Path;

/// A table of model inputs read from CSV.
#[derive(Clone, Debug)]
pub struct InputTable {
    /// Names of the model-input columns.
    pub header: Vec<String>,
    pub rows: Array2<f64>,
    /// True class of each row, when the file has a `label` column.
    pub labels: Option<Vec<usize>>,
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
    let all: Vec<String> = rdr.headers().map_err(|e| csv_err(1, 0, e.to_string()))?.iter().map(String::from).collect();
    // a first line of numbers is a data row without a header: refuse, or it would be lost silently
    if !all.is_empty() && all.iter().all(|h| h.parse::<f64>().is_ok()) {
        return Err(csv_err(1, 1, "the first line holds numbers, not column names: the file has no header row; add one (e.g. x0,x1,…)".into()));
    }
    let label_col = match all.iter().filter(|h| h.as_str() == "label").count() {
        0 => None,
        1 if all.len() == expected_cols + 1 => all.iter().position(|h| h == "label"),
        _ => return Err(csv_err(1, 0, "more than one 'label' column, or a 'label' column beside a wrong number of inputs".into())),
    };
    let width = expected_cols + label_col.is_some() as usize;
    if all.len() != width {
        return Err(csv_err(
            1,
            0,
            format!("the header has {} columns but the model takes {expected_cols} inputs (plus an optional 'label' column)", all.len()),
        ));
    }
    let header: Vec<String> = all.iter().enumerate().filter(|&(k, _)| Some(k) != label_col).map(|(_, h)| h.clone()).collect();
    let mut values = Vec::new();
    let mut labels = Vec::new();
    let mut n = 0;
    for rec in rdr.records() {
        let rec = rec.map_err(|e| csv_err(e.position().map_or(0, |p| p.line()), 0, e.to_string()))?;
        let line = rec.position().map_or(0, |p| p.line());
        if rec.len() != width {
            return Err(csv_err(line, rec.len().min(width) + 1, format!("expected {width} values, found {}", rec.len())));
        }
        for (k, cell) in rec.iter().enumerate() {
            if Some(k) == label_col {
                let c: usize = cell.parse().map_err(|_| csv_err(line, k + 1, format!("label '{cell}' is not a class index (0, 1, …)")))?;
                labels.push(c);
                continue;
            }
            let v: f64 = cell.parse().map_err(|_| csv_err(line, k + 1, format!("'{cell}' ({}) is not a number", all[k])))?;
            if !v.is_finite() {
                return Err(csv_err(line, k + 1, format!("'{cell}' ({}) is not finite", all[k])));
            }
            values.push(v);
        }
        n += 1;
    }
    if n == 0 {
        return Err(Error::Data { path: path.into(), reason: "no data rows after the header".into() });
    }
    Ok(InputTable {
        header,
        rows: Array2::from_shape_vec((n, expected_cols), values).expect("row lengths checked"),
        labels: label_col.map(|_| labels),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(s: &str, cols: usize) -> Result<InputTable> {
        read_inputs_from(s.as_bytes(), Path::new("x.csv"), cols)
    }

    #[test]
    fn reads_a_label_column_anywhere() {
        let t = read("a,label,b\n1,1,2\n3,0,4\n", 2).unwrap();
        assert_eq!(t.header, vec!["a", "b"]);
        assert_eq!(t.rows, ndarray::array![[1.0, 2.0], [3.0, 4.0]]);
        assert_eq!(t.labels, Some(vec![1, 0]));
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
        let e = read("a,label,b\n1,x,3\n", 2).unwrap_err().to_string();
        assert!(e.contains("line 2, column 2") && e.contains("not a class index"), "{e}");
        assert!(read("a,b\n", 2).is_err());
    }

    /// Issue 12.5: a file without a header used to lose its first row silently.
    #[test]
    fn a_missing_header_is_an_error() {
        let e = read("1,2\n3,4\n", 2).unwrap_err().to_string();
        assert!(e.contains("line 1") && e.contains("no header row"), "{e}");
    }
}
