//! The UCI 8×8 handwritten digits (Alpaydin & Kaynak 1998, CC BY 4.0; `assets/digits/README.md`),
//! compiled into the binary, and the model-inversion experiment's seeded splits (SPEC §4.2).
use crate::rng::Philox;
use crate::{Error, Result};
use ndarray::{Array2, Axis};
use std::io::Read;
use std::path::Path;

/// The bundled file: gzip CSV, 1 797 rows of 64 pixels (0..16) and a class 0..9.
const BUNDLED: &[u8] = include_bytes!("../../assets/digits/digits.csv.gz");

/// Pixels per image (8 × 8, row-major) and classes.
pub const PIXELS: usize = 64;
pub const CLASSES: usize = 10;

/// Images with pixels scaled to [0, 1] (value / 16) and their classes.
#[derive(Clone, Debug, PartialEq)]
pub struct Digits {
    pub x: Array2<f64>,
    pub y: Vec<usize>,
}

impl Digits {
    /// The bundled data set (1 797 images).
    pub fn bundled() -> Result<Digits> {
        Self::from_gzip(BUNDLED, Path::new("assets/digits/digits.csv.gz (bundled)"))
    }

    /// Reads the gzip CSV format of the bundled file (`path` names the source in errors): every row 64
    /// integers 0..16 and a class 0..9, else an error naming the line and column.
    pub fn from_gzip(bytes: &[u8], path: &Path) -> Result<Digits> {
        let mut text = String::new();
        flate2::read::GzDecoder::new(bytes).read_to_string(&mut text).map_err(|err| Error::Io { path: path.into(), err })?;
        let mut rdr = csv::ReaderBuilder::new().has_headers(false).trim(csv::Trim::All).from_reader(text.as_bytes());
        let bad = |line: u64, column: usize, reason: String| Error::Csv { path: path.into(), line, column, reason };
        let (mut pixels, mut y) = (Vec::new(), Vec::new());
        for (i, rec) in rdr.records().enumerate() {
            let line = i as u64 + 1;
            let rec = rec.map_err(|e| bad(line, 0, e.to_string()))?;
            if rec.len() != PIXELS + 1 {
                return Err(bad(line, rec.len(), format!("expected {} columns (64 pixels and a class), found {}", PIXELS + 1, rec.len())));
            }
            for (j, cell) in rec.iter().enumerate() {
                let v: u32 = cell.parse().map_err(|_| bad(line, j + 1, format!("'{cell}' is not an integer")))?;
                match j {
                    PIXELS if v as usize >= CLASSES => return Err(bad(line, j + 1, format!("class {v} is not a digit 0..9"))),
                    PIXELS => y.push(v as usize),
                    _ if v > 16 => return Err(bad(line, j + 1, format!("pixel {v} is outside 0..16"))),
                    _ => pixels.push(v as f64 / 16.0),
                }
            }
        }
        let n = y.len();
        let x = Array2::from_shape_vec((n, PIXELS), pixels).expect("64 pixels a row");
        Ok(Digits { x, y })
    }

    /// The rows `idx`, in that order.
    pub fn select(&self, idx: &[usize]) -> Digits {
        Digits { x: self.x.select(Axis(0), idx), y: idx.iter().map(|&i| self.y[i]).collect() }
    }

    pub fn len(&self) -> usize {
        self.y.len()
    }

    pub fn is_empty(&self) -> bool {
        self.y.is_empty()
    }
}

/// The model-inversion experiment's split: `public` (the attacker's data, for the generator prior; its
/// labels are never used), and the private part, `train` (the target and the evaluator learn from it)
/// and `test` (held out: the oracles' accuracy).
#[derive(Clone, Debug, PartialEq)]
pub struct Split {
    pub public: Digits,
    pub train: Digits,
    pub test: Digits,
}

/// A seeded split: a Fisher–Yates permutation from the project's Philox stream of `seed`, its first
/// `public_share` of the rows public, the rest private, of which the first `train_share` train.
pub fn split(all: &Digits, seed: u64, public_share: f64, train_share: f64) -> Result<Split> {
    if !(public_share > 0.0 && public_share < 1.0 && train_share > 0.0 && train_share < 1.0) {
        return Err(Error::Option(format!("the split's shares must lie in (0, 1), got public {public_share}, train {train_share}")));
    }
    let n = all.len();
    let rng = Philox::new(seed ^ 0x6469_6769_7473); // "digits"
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let u = rng.uniform_pair(0, i as u64)[0];
        let j = ((u * (i + 1) as f64) as usize).min(i);
        order.swap(i, j);
    }
    let n_public = (n as f64 * public_share).round() as usize;
    let n_train = ((n - n_public) as f64 * train_share).round() as usize;
    let (public, private) = order.split_at(n_public);
    let (train, test) = private.split_at(n_train);
    if [public.len(), train.len(), test.len()].contains(&0) {
        return Err(Error::Option(format!("{n} images cannot be split {public_share}/{train_share}: a part would be empty")));
    }
    Ok(Split { public: all.select(public), train: all.select(train), test: all.select(test) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_file_reads_as_documented() {
        let d = Digits::bundled().unwrap();
        assert_eq!(d.x.dim(), (1797, 64));
        let mut counts = [0usize; 10];
        d.y.iter().for_each(|&c| counts[c] += 1);
        assert_eq!(counts, [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]);
        assert!(d.x.iter().all(|&v| (0.0..=1.0).contains(&v)));
        // the first image is a 0: its centre column is dark, its left and right strokes bright
        assert_eq!(d.y[0], 0);
    }

    #[test]
    fn splits_are_seeded_disjoint_and_complete() {
        let d = Digits::bundled().unwrap();
        let s = split(&d, 7, 0.5, 0.7).unwrap();
        assert_eq!(s.public.len() + s.train.len() + s.test.len(), d.len());
        assert_eq!(s, split(&d, 7, 0.5, 0.7).unwrap());
        assert_ne!(s.train.y, split(&d, 8, 0.5, 0.7).unwrap().train.y);
        assert!(split(&d, 7, 1.0, 0.7).is_err());
    }

    #[test]
    fn malformed_files_are_refused_with_their_line_and_column() {
        let gz = |text: &str| {
            use std::io::Write;
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(text.as_bytes()).unwrap();
            e.finish().unwrap()
        };
        let row = |last: &str| format!("{}{last}\n", "0,".repeat(64));
        let e = Digits::from_gzip(&gz(&row("12")), Path::new("t")).unwrap_err().to_string();
        assert!(e.contains("class 12"), "{e}");
        let e = Digits::from_gzip(&gz(&format!("{}x,3\n", "0,".repeat(63))), Path::new("t")).unwrap_err().to_string();
        assert!(e.contains("'x' is not an integer") && e.contains("64"), "{e}");
        let e = Digits::from_gzip(b"not gzip", Path::new("t")).unwrap_err().to_string();
        assert!(e.contains('t'), "{e}");
    }
}
