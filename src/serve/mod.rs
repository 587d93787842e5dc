//! `rp serve`: a model deployed behind Robust Privacy — a smoothed, derandomized, budgeted prediction
//! service (SPEC §3; README "Serving").
//!
//! What it guarantees: every answer is the smoothed classifier's (CERTIFY, PREDICT or always-label over
//! `n` Gaussian draws, [`crate::smooth`]) at the record, with the noise seeded by
//! HMAC-SHA256(secret, the record's model input rounded to the grid of [`GRID_BITS`]): the same question
//! (or one within rounding of it) always gets the same answer, so repeating it reveals nothing about the
//! vote shares. What it does not stop: averaging answers over *distinct* nearby inputs — that is bounded
//! only by the certified radius (with probability 1 − α, no input within R of x changes the answer) and
//! by the per-key query budgets, which are persisted with an audit record of every answered query before
//! the answer leaves the server.
pub mod http;
mod metrics;
pub mod store;

use crate::cert::{Answer, Batch, Certificate, Certifier};
use crate::data::card::ModelCard;
use crate::net::Network;
use crate::smooth::{SmoothOptions, SmoothingCertifier};
use crate::spec::Decision;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::Path;

/// Inputs are rounded to multiples of 2^−GRID_BITS (model-input units) before they are hashed:
/// inputs that agree to within half a grid step in every coordinate get the same noise.
pub const GRID_BITS: i32 = 20;

/// The bytes hashed for a model input: a version tag, the width, then each coordinate rounded to the
/// grid as a little-endian i64 (every coordinate must be finite).
pub fn canonical_bytes(x: &[f64]) -> Vec<u8> {
    let scale = (2.0f64).powi(GRID_BITS);
    let mut out = Vec::with_capacity(16 + 8 * x.len());
    out.extend_from_slice(b"rp-serve-v1");
    out.extend_from_slice(&(x.len() as u32).to_le_bytes());
    for &v in x {
        // saturating cast: |v| beyond 2^43 shares the end of the grid, which only merges seeds
        out.extend_from_slice(&((v * scale).round() as i64).to_le_bytes());
    }
    out
}

/// HMAC-SHA256(secret, canonical bytes of x): the record's key for its noise and for the audit log.
pub fn record_mac(secret: &[u8], x: &[f64]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(&canonical_bytes(x));
    mac.finalize().into_bytes().into()
}

/// The noise seed of a record: the first 8 bytes of its MAC (little endian). `rp certify --method smooth
/// --seed S` on the record as row 0 gives the server's answer.
pub fn noise_seed(secret: &[u8], x: &[f64]) -> u64 {
    seed_of(&record_mac(secret, x))
}

/// The noise seed a record's MAC gives: its first 8 bytes, little endian.
fn seed_of(mac: &[u8; 32]) -> u64 {
    u64::from_le_bytes(mac[..8].try_into().expect("32 bytes"))
}

/// Reads the secret, refusing a file that others can read or write (Unix mode bits), an empty one, or
/// one shorter than 16 bytes.
pub fn read_secret(path: &Path) -> crate::Result<Vec<u8>> {
    let bad = |m: String| crate::Error::Option(m);
    let meta = std::fs::metadata(path).map_err(|err| crate::Error::Io { path: path.into(), err })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(bad(format!("the secret file {} is open to others (mode {mode:o}); run chmod 600 on it", path.display())));
        }
    }
    #[cfg(not(unix))]
    let _ = meta;
    let secret = std::fs::read(path).map_err(|err| crate::Error::Io { path: path.into(), err })?;
    if secret.len() < 16 {
        return Err(bad(format!("the secret file {} holds {} bytes; use at least 16 random bytes (e.g. head -c 32 /dev/urandom)", path.display(), secret.len())));
    }
    Ok(secret)
}

/// What a client may ask for and see (from the keys file; see [`Keys`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Key {
    /// The name in the audit log and the budget table.
    pub name: String,
    /// The bearer token (`Authorization: Bearer TOKEN`).
    pub token: String,
    /// Records this key may have answered in total (persisted across restarts).
    pub budget: u64,
    /// Whether the key may ask for certificates (radius, α, guarantee).
    #[serde(default)]
    pub certificate: bool,
}

/// The keys file (TOML): `[[key]]` tables of [`Key`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Keys {
    #[serde(default)]
    pub key: Vec<Key>,
}

impl Keys {
    /// Reads and checks a keys file: names and tokens unique and non-empty.
    pub fn read(path: &Path) -> crate::Result<Keys> {
        let text = std::fs::read_to_string(path).map_err(|err| crate::Error::Io { path: path.into(), err })?;
        let keys: Keys = toml::from_str(&text).map_err(|e| crate::Error::Option(format!("{}: {e}", path.display())))?;
        for (i, k) in keys.key.iter().enumerate() {
            if k.name.is_empty() || k.token.len() < 8 {
                return Err(crate::Error::Option(format!("{}: key {} needs a name and a token of at least 8 characters", path.display(), i + 1)));
            }
            if keys.key[..i].iter().any(|o| o.name == k.name || o.token == k.token) {
                return Err(crate::Error::Option(format!("{}: key '{}' repeats a name or a token", path.display(), k.name)));
            }
        }
        Ok(keys)
    }

    /// The key whose token this is.
    pub fn by_token(&self, token: &str) -> Option<&Key> {
        self.key.iter().find(|k| k.token == token)
    }
}

/// The deployed classifier: the network, its card, the smoothing options (their seed is replaced per
/// record) and the secret.
pub struct Deployed {
    pub net: Network,
    pub card: Option<ModelCard>,
    pub decision: Decision,
    pub options: SmoothOptions,
    secret: Vec<u8>,
    /// SHA-256 of the ONNX file.
    pub model_sha256: String,
    /// With a card: its sensitive attribute and std (raw units per model unit) for raw radii.
    pub raw: Option<(String, f64)>,
}

/// One record's answer with its certificate.
#[derive(Clone, Debug, PartialEq)]
pub struct Served {
    pub answer: Answer,
    /// The smoothed radius (0 for PREDICT and always-label, and when abstaining).
    pub radius: f64,
    pub guarantee: String,
    /// HMAC of the record (hex): its audit identity.
    pub mac_hex: String,
}

impl Deployed {
    pub fn new(net: Network, card: Option<ModelCard>, decision: Decision, options: SmoothOptions, secret: Vec<u8>, model_bytes: &[u8]) -> crate::Result<Self> {
        options.validate()?;
        let raw = card.as_ref().map(ModelCard::sensitive_std).transpose()?.flatten();
        let model_sha256 = hex(&Sha256::digest(model_bytes));
        Ok(Deployed { net, card, decision, options, secret, model_sha256, raw })
    }

    /// The answer at each model input: the smoothed classifier with the record's own seed, the record
    /// as row 0 (records in parallel; each answer depends on its record only).
    pub fn answer(&self, inputs: &[Vec<f64>]) -> crate::Result<Vec<Served>> {
        use rayon::prelude::*;
        inputs.par_iter().map(|x| self.answer_one(x)).collect()
    }

    fn answer_one(&self, x: &[f64]) -> crate::Result<Served> {
        let mac = record_mac(&self.secret, x);
        let certifier = SmoothingCertifier { net: self.net.clone(), decision: self.decision, options: SmoothOptions { seed: seed_of(&mac), ..self.options.clone() } };
        let row = ndarray::ArrayView2::from_shape((1, x.len()), x).map_err(|e| crate::Error::Option(e.to_string()))?;
        let cert: Certificate = certifier.certify(Batch { inputs: row, row_ids: &[0] }, &crate::progress::NoProgress)?.remove(0);
        Ok(Served { answer: cert.answer(), radius: cert.radius_value(), guarantee: cert.guarantee_name(), mac_hex: hex(&mac) })
    }

    /// The class's public name: the card's class name, else its index.
    pub fn label(&self, answer: Answer) -> serde_json::Value {
        match answer {
            Answer::Abstain => serde_json::Value::from("abstain"),
            Answer::Class(k) => match self.card.as_ref().and_then(|c| c.classes.get(k)) {
                Some(name) => serde_json::Value::from(name.clone()),
                None => serde_json::Value::from(k),
            },
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_within_the_grid_share_a_seed_and_others_do_not() {
        let s = b"0123456789abcdef0123";
        let x = [0.5, -1.25, 3.0];
        let near = [0.5 + 2f64.powi(-23), -1.25, 3.0 - 2f64.powi(-24)];
        let far = [0.5 + 2f64.powi(-19), -1.25, 3.0];
        assert_eq!(noise_seed(s, &x), noise_seed(s, &near));
        assert_ne!(noise_seed(s, &x), noise_seed(s, &far));
        assert_ne!(noise_seed(s, &x), noise_seed(b"another secret of 16+", &x));
        assert_ne!(canonical_bytes(&[0.0]), canonical_bytes(&[0.0, 0.0]), "the width is hashed");
    }

    #[test]
    fn keys_files_are_checked() {
        let ok: Keys = toml::from_str("[[key]]\nname = \"a\"\ntoken = \"tok-aaaaaaaa\"\nbudget = 5\ncertificate = true\n").unwrap();
        assert_eq!(ok.by_token("tok-aaaaaaaa").unwrap().budget, 5);
        assert!(toml::from_str::<Keys>("[[key]]\nname = \"a\"\ntoken = \"t\"\nbudget = 5\nextra = 1\n").is_err());
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k.toml");
        std::fs::write(&p, "[[key]]\nname = \"a\"\ntoken = \"tok-aaaaaaaa\"\nbudget = 5\n[[key]]\nname = \"a\"\ntoken = \"tok-bbbbbbbb\"\nbudget = 5\n").unwrap();
        assert!(Keys::read(&p).unwrap_err().to_string().contains("repeats"));
    }

    #[cfg(unix)]
    #[test]
    fn a_secret_open_to_others_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("secret");
        std::fs::write(&p, [7u8; 32]).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(read_secret(&p).unwrap_err().to_string().contains("chmod 600"));
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(read_secret(&p).unwrap().len(), 32);
        std::fs::write(&p, [7u8; 4]).unwrap();
        assert!(read_secret(&p).unwrap_err().to_string().contains("at least 16"));
    }
}
