//! Raw records (SPEC §3 "Data: CSV with a header of raw feature names when a card is present"): cells
//! kept as text until a model card maps them to model inputs. Columns the card does not name (costs,
//! ids, a `label`) are carried along and ignored by the transform.
use super::card::ModelCard;
use crate::{Error, Result};
use ndarray::Array2;
use std::path::Path;

/// A table of raw records.
#[derive(Clone, Debug, PartialEq)]
pub struct RawTable {
    pub header: Vec<String>,
    pub records: Vec<Vec<String>>,
    /// The source line of each record (1-based, the header being line 1), kept by `select`, so that
    /// errors name the right line.
    pub lines: Vec<u64>,
}

impl RawTable {
    /// Reads a CSV with a header; every row must have as many cells as the header.
    pub fn read(path: &Path) -> Result<Self> {
        let file = std::fs::File::open(path).map_err(|err| Error::Io { path: path.into(), err })?;
        let mut rdr = csv::ReaderBuilder::new().has_headers(true).trim(csv::Trim::All).from_reader(file);
        let csv_err = |line: u64, reason: String| Error::Csv { path: path.into(), line, column: 1, reason };
        let header: Vec<String> = rdr.headers().map_err(|e| csv_err(1, e.to_string()))?.iter().map(String::from).collect();
        if !header.is_empty() && header.iter().all(|h| h.parse::<f64>().is_ok()) {
            return Err(csv_err(1, "the first line holds numbers, not column names: the file has no header row; add one".into()));
        }
        let (mut records, mut lines) = (Vec::new(), Vec::new());
        for rec in rdr.records() {
            let rec = rec.map_err(|e| csv_err(e.position().map_or(0, |p| p.line()), e.to_string()))?;
            lines.push(rec.position().map_or(0, |p| p.line()));
            records.push(rec.iter().map(String::from).collect());
        }
        if records.is_empty() {
            return Err(Error::Data { path: path.into(), reason: "no data rows after the header".into() });
        }
        Ok(RawTable { header, records, lines })
    }

    /// Writes the table as CSV.
    pub fn write(&self, out: impl std::io::Write) -> std::io::Result<()> {
        let mut w = csv::Writer::from_writer(out);
        w.write_record(&self.header)?;
        for r in &self.records {
            w.write_record(r)?;
        }
        w.flush()
    }

    /// Index of column `name`; an unknown name is an error listing the columns.
    pub fn column_index(&self, name: &str) -> std::result::Result<usize, String> {
        self.header.iter().position(|h| h == name).ok_or_else(|| format!("no column '{name}' (columns: {})", self.header.join(", ")))
    }

    /// A table of records with consecutive source lines 2, 3, … (generated data).
    pub fn new(header: Vec<String>, records: Vec<Vec<String>>) -> Self {
        let lines = (0..records.len() as u64).map(|i| i + 2).collect();
        RawTable { header, records, lines }
    }

    /// The numeric values of column `name`, naming the first bad cell by its line and column.
    pub fn numeric_column(&self, name: &str) -> std::result::Result<Vec<f64>, String> {
        let k = self.column_index(name)?;
        self.records
            .iter()
            .zip(&self.lines)
            .map(|(r, &line)| match r[k].parse::<f64>() {
                Ok(v) if v.is_finite() => Ok(v),
                _ => Err(format!("line {line}, column {}: '{}' ({name}) is not a finite number", k + 1, r[k])),
            })
            .collect()
    }

    /// A table of the records at `rows`, in that order (with their source lines).
    pub fn select(&self, rows: &[usize]) -> RawTable {
        RawTable {
            header: self.header.clone(),
            records: rows.iter().map(|&i| self.records[i].clone()).collect(),
            lines: rows.iter().map(|&i| self.lines[i]).collect(),
        }
    }

    /// Checks the cells of the named numeric and categorical columns (numbers; any text), naming the line
    /// and column of the first bad one — before a card is fitted on them.
    pub fn check_numeric(&self, numeric: &[&str]) -> std::result::Result<(), String> {
        for name in numeric {
            self.numeric_column(name)?;
        }
        Ok(())
    }
}

impl ModelCard {
    /// The model inputs of every record of `table` (`path` names the source in errors, with the line).
    pub fn transform_table(&self, table: &RawTable, path: &Path) -> Result<Array2<f64>> {
        let mut values = Vec::with_capacity(table.records.len() * self.input_dim());
        for (r, &line) in table.records.iter().zip(&table.lines) {
            let x = self.transform_at(&table.header, r).map_err(|(column, reason)| Error::Csv { path: path.into(), line, column: column + 1, reason })?;
            values.extend(x);
        }
        Ok(Array2::from_shape_vec((table.records.len(), self.input_dim()), values).expect("one input row per record"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_transforms_and_names_bad_lines() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("raw.csv");
        std::fs::write(&p, "bmi,smoker,cost\n20,Never,1\n30,Current,2\n").unwrap();
        let t = RawTable::read(&p).unwrap();
        assert_eq!(t.numeric_column("bmi").unwrap(), vec![20.0, 30.0]);
        let card = ModelCard::fit(&t.header, &t.records, &["bmi"], &["smoker"], &["bmi"], &["no", "yes"]).unwrap();
        let x = card.transform_table(&t, &p).unwrap();
        assert_eq!(x, ndarray::array![[-1.0, 0.0, 1.0], [1.0, 1.0, 0.0]]);
        std::fs::write(&p, "bmi,smoker\n20,Never\n30,Sometimes\n").unwrap();
        let e = card.transform_table(&RawTable::read(&p).unwrap(), &p).unwrap_err().to_string();
        assert!(e.contains("line 3, column 2") && e.contains("not a category of smoker"), "{e}");
        // issue 12: the right line after a selection, and of a numeric cell
        std::fs::write(&p, "bmi,smoker\n20,Never\n30,Never\n31,Never\n3x,Never\n").unwrap();
        let t = RawTable::read(&p).unwrap();
        let e = card.transform_table(&t.select(&[2, 3]), &p).unwrap_err().to_string();
        assert!(e.contains("line 5, column 1") && e.contains("'3x' (bmi) is not a number"), "{e}");
        assert!(t.numeric_column("bmi").unwrap_err().contains("line 5, column 1"));
        assert!(t.numeric_column("age").unwrap_err().contains("no column 'age'"));
    }
}
