//! Issue 12: what a new user hits — overflow, single-logit models, sizes that used to crash, the
//! shipped APE model's own B, CSV header and shard edge cases. Each test failed before the fix.
use rp::net::{init::seeded_mlp, write_onnx_bytes};
use std::path::Path;
use std::process::{Command, Output};

fn rp(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rp")).args(args).output().expect("run rp")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

const DEMO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/models/demo-mlp/model.onnx");

/// The options each method takes in these tests (options that do not apply are errors).
fn method_args(method: &str) -> Vec<&'static str> {
    match method {
        "smooth" => vec!["--sigma", "0.5", "--n", "200", "--alpha", "0.01"],
        "line" => vec!["--attribute", "x0", "--attribute-range", "-1,1"],
        "milp" => vec!["--time-limit", "5"],
        _ => vec![],
    }
}

fn demo_csv(dir: &Path, rows: &[&str]) -> String {
    let header = (0..11).map(|k| format!("x{k}")).collect::<Vec<_>>().join(",");
    let p = dir.join("in.csv");
    std::fs::write(&p, format!("{header}\n{}\n", rows.join("\n"))).unwrap();
    p.to_str().unwrap().to_string()
}

/// 12.1: an input whose forward pass overflows gets an error naming the row from every method — never a
/// radius; `rp bounds` writes ±∞ as "inf"/"-inf" (JSON has no infinity) and never null.
#[test]
fn overflowing_inputs_are_errors_never_radii() {
    let dir = tempfile::tempdir().unwrap();
    let big = vec!["1.7e308"; 11].join(",");
    let ok = vec!["0.1"; 11].join(",");
    let input = demo_csv(dir.path(), &[&ok, &big]);
    for method in ["crown", "ibp", "alpha-crown", "milp", "line", "pgd", "smooth"] {
        let mut args = vec!["certify", "--model", DEMO, "--input", &input, "--method", method];
        args.extend(method_args(method));
        let o = rp(&args);
        assert!(!o.status.success(), "{method}: {}", stdout(&o));
        assert!(stderr(&o).contains("row 1") && stderr(&o).contains("not finite"), "{method}: {}", stderr(&o));
    }
    let o = rp(&["bounds", "--model", DEMO, "--input", &input, "--eps", "0"]);
    assert!(!o.status.success() && stderr(&o).contains("row 1"), "{}", stderr(&o));
    // a finite input whose bounds overflow: the bounds are ±∞, written as strings
    let huge = vec!["1e308"; 11].join(",");
    let input = demo_csv(dir.path(), &[&huge]);
    let o = rp(&["bounds", "--model", DEMO, "--input", &input, "--eps", "0"]);
    if o.status.success() {
        let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
        for x in v["rows"][0]["lower"].as_array().unwrap().iter().chain(v["rows"][0]["upper"].as_array().unwrap()) {
            assert!(x.is_number() || x == "inf" || x == "-inf", "{x}");
        }
    }
}

/// 12.2: a single-logit (BCE-style) model is refused with argmax, and certified with
/// `--decision threshold` (class 1 when the logit exceeds the threshold).
#[test]
fn single_logit_models_need_a_threshold_decision() {
    let dir = tempfile::tempdir().unwrap();
    let mut net = seeded_mlp(&[3, 8, 1], 5);
    net.round_weights_to_f32();
    let model = dir.path().join("bce.onnx");
    std::fs::write(&model, write_onnx_bytes(&net).unwrap()).unwrap();
    let rows: Vec<[f64; 3]> = (0..6).map(|i| [0.3 * i as f64 - 0.8, 0.5 - 0.2 * i as f64, 0.1 * i as f64]).collect();
    let csv = dir.path().join("x.csv");
    std::fs::write(&csv, format!("a,b,c\n{}\n", rows.iter().map(|r| format!("{},{},{}", r[0], r[1], r[2])).collect::<Vec<_>>().join("\n"))).unwrap();
    let (m, x) = (model.to_str().unwrap(), csv.to_str().unwrap());
    for method in ["crown", "milp", "smooth", "line"] {
        let mut args = vec!["certify", "--model", m, "--input", x, "--method", method];
        args.extend(method_args(method).into_iter().map(|a| if a == "x0" { "a" } else if a == "-1,1" { "-2,2" } else { a }));
        let o = rp(&args);
        assert!(!o.status.success() && stderr(&o).contains("--decision threshold"), "{method}: {}", stderr(&o));
    }
    for method in ["crown", "milp", "line"] {
        let mut args = vec!["certify", "--model", m, "--input", x, "--method", method, "--decision", "threshold"];
        args.extend(method_args(method).into_iter().map(|a| if a == "x0" { "a" } else if a == "-1,1" { "-2,2" } else { a }));
        let o = rp(&args);
        assert!(o.status.success(), "{method}: {}", stderr(&o));
        let out = stdout(&o);
        for (line, r) in out.lines().skip(1).zip(&rows) {
            let f: Vec<&str> = line.split(',').collect();
            let logit = net.forward(ndarray::arr1(r).view())[0];
            assert_eq!(f[1], if logit > 0.0 { "1" } else { "0" }, "{method}: {line} (logit {logit})");
            let radius: f64 = f[2].parse().unwrap();
            // before, an empty margin specification certified everything (radius 1e6 sound); the line
            // may prove its whole range (inf), the full-space methods find a finite radius
            if method != "line" {
                assert!(radius < 1e5, "{method}: {line}");
            }
        }
    }
    // the threshold moves the decision
    let o = rp(&["certify", "--model", m, "--input", x, "--decision", "threshold", "--threshold", "1e9"]);
    assert!(o.status.success());
    assert!(stdout(&o).lines().skip(1).all(|l| l.split(',').nth(1) == Some("0")));
}

/// 12.3: sizes that used to panic, abort on allocation or hang are clear errors (or capped).
#[test]
fn absurd_sizes_are_refused_before_allocating() {
    let o = rp(&["certify", "--method", "smooth", "--sigma", "1", "--n", "18446744073709551615"]);
    assert!(!o.status.success() && o.status.code() == Some(1) && stderr(&o).contains("--n"), "{:?} {}", o.status, stderr(&o));
    let o = rp(&["certify", "--method", "smooth", "--sigma", "1", "--n0", "18446744073709551615"]);
    assert!(!o.status.success() && o.status.code() == Some(1) && stderr(&o).contains("--n0"), "{}", stderr(&o));
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d.csv");
    assert!(rp(&["data", "synth-medical", "--rows", "300", "--out", data.to_str().unwrap()]).status.success());
    for hidden in ["18446744073709551615", "4000000000"] {
        let o = rp(&["train", "--data", data.to_str().unwrap(), "--output", dir.path().join("m").to_str().unwrap(), "--hidden", hidden]);
        assert_eq!(o.status.code(), Some(1), "--hidden {hidden}: {}", stderr(&o));
        assert!(stderr(&o).contains("--hidden"), "{}", stderr(&o));
    }
    let o = rp(&["--threads", "100000", "certify"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("more than 4 per core"), "{}", stderr(&o));
}

/// 12.2/12.4: diverging training says so instead of writing a NaN model.
#[test]
fn diverging_training_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d.csv");
    assert!(rp(&["data", "synth-medical", "--rows", "300", "--out", data.to_str().unwrap()]).status.success());
    let o = rp(&["train", "--data", data.to_str().unwrap(), "--output", dir.path().join("m").to_str().unwrap(), "--lr", "1e300", "--epochs", "3"]);
    assert!(!o.status.success() && stderr(&o).contains("diverged"), "{}", stderr(&o));
}

/// 12.5: a CSV without a header is refused (it lost its first row), and an empty shard still writes
/// the header.
#[test]
fn headerless_csv_and_empty_shards() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("nohead.csv");
    std::fs::write(&p, format!("{}\n{}\n", vec!["0.1"; 11].join(","), vec!["0.2"; 11].join(","))).unwrap();
    let o = rp(&["certify", "--model", DEMO, "--input", p.to_str().unwrap()]);
    assert!(!o.status.success() && stderr(&o).contains("no header row"), "{}", stderr(&o));
    // 20 rows in 40 shards: shard 0 is empty
    let o = rp(&["certify", "--shard", "0/40"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).trim(), "row,label,radius,guarantee,radius_upper,alpha,time_ms");
    assert!(!stderr(&o).contains("-0.0"), "{}", stderr(&o));
}

/// 12.4: the shipped APE model is judged against its own B (33.4, from its train.json), whatever the
/// scale of the run's data (before, B was re-estimated from the new rows and base accuracy fell below
/// 100%).
#[test]
fn reproduce_with_the_shipped_model_uses_its_own_threshold() {
    let dir = tempfile::tempdir().unwrap();
    let model_dir = concat!(env!("CARGO_MANIFEST_DIR"), "/models/ape-paper");
    let out = dir.path().join("ape");
    let o = rp(&["reproduce", "ape", "--model-dir", model_dir, "--rows", "3000", "--augmented-records", "20", "--boundary-records", "2", "--mode-records", "2", "--boundary-samples", "500", "--output", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("B = 33.40"), "{text}");
    let base = text.lines().find(|l| l.starts_with("| base |")).unwrap();
    assert!(base.starts_with("| base | 100.00% |"), "{base}");
}
