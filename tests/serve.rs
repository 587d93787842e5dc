//! `rp serve` against a real server on loopback: derandomized answers, equality with `rp certify`,
//! budgets that survive kill -9, and a 4xx for every kind of client mistake.
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

const MODEL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/models/ape-paper/model.onnx");
const CARD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/models/ape-paper/card.json");
const KEYS: &str = "[[key]]\nname = \"analyst\"\ntoken = \"tok-analyst-1\"\nbudget = 5\ncertificate = true\n\n\
                    [[key]]\nname = \"public\"\ntoken = \"tok-public-1\"\nbudget = 1000000\n";

/// A record of the APE model's card (raw features).
fn record(bmi: f64) -> serde_json::Value {
    serde_json::json!({"age": 40, "income": 50000, "household_size": 3, "dependents": 1, "bmi": bmi, "visits": 2,
        "hospitalizations": 0, "hypertension": 0, "diabetes": 0, "asthma": 0, "systolic_bp": 120, "diastolic_bp": 80,
        "ldl": 100, "hba1c": 5.5, "sex": "Male", "region": "East", "urban_rural": "Urban", "education": "Master",
        "marital_status": "Married", "employment_status": "Employed", "smoker": "Never", "alcohol_freq": "Weekly",
        "plan_type": "Gold"})
}

struct Server {
    child: Child,
    url: String,
}

impl Server {
    /// Starts `rp serve` in `dir` (secret, keys, database there) with extra options; waits until it listens.
    fn start(dir: &Path, extra: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_rp"))
            .args(["--threads", "2", "serve", "--model", MODEL, "--card", CARD, "--sigma-raw", "2", "--n", "1000", "--mode", "certify"])
            .args(["--listen", "127.0.0.1:0", "--secret-file", "secret", "--keys", "keys.toml", "--db", "budget.sqlite"])
            .args(extra)
            .current_dir(dir)
            .stderr(Stdio::piped())
            .spawn()
            .expect("rp serve starts");
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let url = loop {
            let line = lines.next().expect("rp serve said where it listens").unwrap();
            if let Some(rest) = line.strip_prefix("rp serve: listening on ") {
                break rest.split_whitespace().next().unwrap().to_string();
            }
        };
        std::thread::spawn(move || lines.for_each(drop)); // keep draining stderr
        Server { child, url }
    }

    fn post(&self, token: Option<&str>, body: &str) -> (u16, serde_json::Value) {
        let mut req = ureq::post(&format!("{}/v1/predict", self.url)).set("Content-Type", "application/json");
        if let Some(t) = token {
            req = req.set("Authorization", &format!("Bearer {t}"));
        }
        match req.send_string(body) {
            Ok(r) => (r.status(), r.into_json().unwrap()),
            Err(ureq::Error::Status(code, r)) => (code, r.into_json().unwrap_or(serde_json::Value::Null)),
            Err(e) => panic!("transport error: {e}"),
        }
    }

    fn predict(&self, token: &str, records: &[serde_json::Value], certificate: bool) -> (u16, serde_json::Value) {
        self.post(Some(token), &serde_json::json!({ "records": records, "certificate": certificate }).to_string())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn workdir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("secret"), b"a test secret of more than sixteen bytes").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path().join("secret"), std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    std::fs::write(dir.path().join("keys.toml"), KEYS).unwrap();
    dir
}

#[test]
fn repeated_queries_get_identical_answers_and_certify_gives_the_same() {
    let dir = workdir();
    let s = Server::start(dir.path(), &[]);
    // a record near the decision boundary: with fresh noise its radius would change every time
    let rec = record(30.0);
    let (code, first) = s.predict("tok-public-1", std::slice::from_ref(&rec), false);
    assert_eq!(code, 200, "{first}");
    for _ in 0..1000 {
        assert_eq!(s.predict("tok-public-1", std::slice::from_ref(&rec), false), (200, first.clone()));
    }
    // the analyst's certificate equals rp certify with the record's seed, the record as row 0
    let (code, cert) = s.predict("tok-analyst-1", std::slice::from_ref(&rec), true);
    assert_eq!(code, 200, "{cert}");
    let card = rp::data::card::ModelCard::read(Path::new(CARD)).unwrap();
    let (header, cells): (Vec<String>, Vec<String>) = rec.as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.as_str().map_or_else(|| v.to_string(), String::from))).unzip();
    let x = card.transform(&header, &cells).unwrap();
    let seed = rp::serve::noise_seed(b"a test secret of more than sixteen bytes", &x);
    let csv = dir.path().join("rec.csv");
    std::fs::write(&csv, format!("{}\n{}\n", header.join(","), cells.join(","))).unwrap();
    let out = dir.path().join("out.json");
    let st = Command::new(env!("CARGO_BIN_EXE_rp"))
        .args(["certify", "--method", "smooth", "--sigma-raw", "2", "--n", "1000", "--mode", "certify", "--model", MODEL, "--card", CARD])
        .arg("--input")
        .arg(&csv)
        .args(["--seed", &seed.to_string(), "--output"])
        .arg(&out)
        .status()
        .unwrap();
    assert!(st.success());
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let row = &doc["rows"][0];
    let a = &cert["answers"][0];
    let label = row["label"].as_str().unwrap();
    let expected = if label == "abstain" { "abstain".to_string() } else { card.classes[label.parse::<usize>().unwrap()].clone() };
    assert_eq!(a["label"], serde_json::json!(expected));
    assert_eq!(a["radius"], row["radius"]);
    assert_eq!(first["answers"][0]["label"], a["label"]);
}

#[test]
fn budgets_and_the_audit_log_survive_a_kill_9() {
    let dir = workdir();
    let mut s = Server::start(dir.path(), &[]);
    let recs: Vec<_> = (0..5).map(|i| record(20.0 + 3.0 * i as f64)).collect();
    let (code, body) = s.predict("tok-analyst-1", &recs[..3], false);
    assert_eq!(code, 200, "{body}");
    let (code, body) = s.predict("tok-analyst-1", &recs[..3], false);
    assert_eq!(code, 429, "{body}"); // 3 + 3 > 5: refused, nothing charged
    let (code, _) = s.predict("tok-analyst-1", &recs[3..5], false);
    assert_eq!(code, 200);
    s.child.kill().unwrap(); // SIGKILL: no shutdown code runs
    s.child.wait().unwrap();
    let s = Server::start(dir.path(), &[]);
    let (code, body) = s.predict("tok-analyst-1", &recs[..1], false);
    assert_eq!(code, 429, "{body}");
    assert!(body["error"].as_str().unwrap().contains("used 5 of its 5"), "{body}");
    assert_eq!(s.predict("tok-public-1", &recs[..1], false).0, 200);
    drop(s);
    let store = rp::serve::store::Store::open(&dir.path().join("budget.sqlite")).unwrap();
    let log = store.audit().unwrap();
    let analyst: Vec<_> = log.iter().filter(|e| e.key == "analyst").collect();
    assert_eq!(analyst.len(), 5);
    assert!(analyst.iter().all(|e| e.input_hash.len() == 64 && (e.answer.starts_with("bmi_") || e.answer == "abstain")));
    assert_eq!(store.used("analyst").unwrap(), 5);
}

#[test]
fn every_client_mistake_gets_its_4xx_and_the_server_keeps_running() {
    let dir = workdir();
    // a small body limit, so that the too-large body still fits the socket buffers: the 413 then never
    // races the client's writing
    let s = Server::start(dir.path(), &["--max-body", "4096", "--queue", "3"]);
    let ok = serde_json::json!({ "records": [record(25.0)] }).to_string();
    let mut unknown_field = record(25.0);
    unknown_field["shoe_size"] = serde_json::json!(44);
    let mut bad_category = record(25.0);
    bad_category["region"] = serde_json::json!("Atlantis");
    let mut not_finite = record(25.0);
    not_finite["bmi"] = serde_json::json!("NaN");
    let mut wrong_type = record(25.0);
    wrong_type["age"] = serde_json::json!([40]);
    let mut missing = record(25.0);
    missing.as_object_mut().unwrap().remove("income");
    let cases: Vec<(Option<&str>, String, u16, &str)> = vec![
        (Some("tok-public-1"), "{\"records\": [".into(), 400, "malformed"),
        (Some("tok-public-1"), "{\"rows\": []}".into(), 400, "malformed"),
        (Some("tok-public-1"), "{\"records\": []}".into(), 400, "empty"),
        (Some("tok-public-1"), "{\"records\": [[1, 2, 3]]}".into(), 400, "record 0"),
        (Some("tok-public-1"), serde_json::json!({ "records": [record(25.0), unknown_field] }).to_string(), 400, "record 1: unknown field 'shoe_size'"),
        (Some("tok-public-1"), serde_json::json!({ "records": [bad_category] }).to_string(), 400, "Atlantis"),
        (Some("tok-public-1"), serde_json::json!({ "records": [not_finite] }).to_string(), 400, "not finite"),
        (Some("tok-public-1"), serde_json::json!({ "records": [wrong_type] }).to_string(), 400, "field 'age'"),
        (Some("tok-public-1"), serde_json::json!({ "records": [missing] }).to_string(), 400, "income"),
        (Some("tok-public-1"), "{\"records\": [{\"bmi\": 1e999}]}".into(), 400, "malformed"),
        (None, ok.clone(), 401, "Bearer"),
        (Some("tok-nobody-0"), ok.clone(), 401, "unknown API key"),
        (Some("tok-public-1"), serde_json::json!({ "records": [record(25.0)], "certificate": true }).to_string(), 403, "certificates"),
        (Some("tok-public-1"), format!("{{\"records\": [{}]}}", vec![record(25.0).to_string(); 30].join(",")), 413, ""),
        (Some("tok-public-1"), serde_json::json!({ "records": vec![record(25.0); 4] }).to_string(), 503, "queue"),
    ];
    for (token, body, want, needle) in cases {
        let (code, resp) = s.post(token, &body);
        assert_eq!(code, want, "{body:.120} → {resp}");
        if !needle.is_empty() {
            assert!(resp["error"].as_str().unwrap_or_default().contains(needle), "{body:.120} → {resp}");
        }
    }
    assert_eq!(s.post(Some("tok-public-1"), &ok).0, 200);
    assert_eq!(ureq::get(&format!("{}/healthz", s.url)).call().unwrap().into_string().unwrap(), "ok\n");
    let metrics = ureq::get(&format!("{}/metrics", s.url)).call().unwrap().into_string().unwrap();
    assert!(metrics.contains("rp_requests_total{endpoint=\"/v1/predict\",status=\"400\"} 10"), "{metrics}");
    assert!(metrics.contains("rp_predict_latency_seconds_bucket"), "{metrics}");
    let model: serde_json::Value = ureq::get(&format!("{}/v1/model", s.url)).call().unwrap().into_json().unwrap();
    use sha2::Digest;
    let sha: String = sha2::Sha256::digest(std::fs::read(MODEL).unwrap()).iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(model["model_sha256"], serde_json::json!(sha));
    assert_eq!(model["n"], serde_json::json!(1000));
}

#[test]
fn a_bad_setup_is_refused_before_listening() {
    let dir = workdir();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path().join("secret"), std::fs::Permissions::from_mode(0o644)).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_rp"))
            .args(["serve", "--model", MODEL, "--sigma", "0.5", "--secret-file", "secret", "--listen", "127.0.0.1:0"])
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("chmod 600"));
    }
    let _: PathBuf = dir.path().join("unused");
}
