//! The `rp` command line: the output contracts of SPEC §3, the bundled demo, and clear errors with a
//! non-zero exit for bad input.
use std::path::Path;
use std::process::{Command, Output};

fn rp(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rp")).args(args).output().expect("run rp")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn certify_runs_on_the_bundled_demo_with_the_csv_contract() {
    let o = rp(&["certify", "--method", "crown", "--norm", "l2"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8(o.stdout).unwrap();
    let mut lines = out.lines();
    assert_eq!(lines.next().unwrap(), "row,label,radius,guarantee,radius_upper,alpha,time_ms");
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 20);
    for (i, r) in rows.iter().enumerate() {
        let f: Vec<&str> = r.split(',').collect();
        assert_eq!(f[0], i.to_string());
        assert!(f[1] == "0" || f[1] == "1");
        assert!(f[2].parse::<f64>().unwrap() >= 0.0);
        assert_eq!(f[3], "sound");
        assert_eq!((f[4], f[5]), ("", ""));
    }
}

#[test]
fn certify_json_and_bounds_json_follow_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("c.json");
    let o = rp(&["certify", "--method", "alpha-crown", "--alpha-iters", "3", "--output", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(v["method"], "alpha-crown");
    assert_eq!(v["norm"], "linf");
    let row = &v["rows"][0];
    for key in ["row", "label", "radius", "guarantee", "radius_upper", "alpha", "time_ms"] {
        assert!(row.get(key).is_some(), "missing {key}");
    }
    let bj = dir.path().join("b.json");
    let o = rp(&["bounds", "--eps", "0.05", "--norm", "l2", "--method", "ibp", "--json", bj.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&bj).unwrap()).unwrap();
    assert_eq!((v["method"].as_str(), v["norm"].as_str(), v["eps"].as_f64()), (Some("ibp"), Some("l2"), Some(0.05)));
    let r = &v["rows"][3];
    assert_eq!(r["row"], 3);
    let (lo, hi) = (r["lower"].as_array().unwrap(), r["upper"].as_array().unwrap());
    assert_eq!(lo.len(), 2);
    assert!(lo.iter().zip(hi).all(|(l, h)| l.as_f64() <= h.as_f64()));
}

#[test]
fn bad_inputs_fail_with_a_message_and_nonzero_exit() {
    let dir = tempfile::tempdir().unwrap();
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/demo-mlp/model.onnx");
    let model = model.to_str().unwrap();
    let bad_csv = dir.path().join("bad.csv");
    let header = (0..11).map(|k| format!("x{k}")).collect::<Vec<_>>().join(",");
    std::fs::write(&bad_csv, format!("{header}\n1,2,3,4,5,6,7,8,9,10,11\n1,2,3,4,5,6,7,oops,9,10,11\n")).unwrap();
    let o = rp(&["certify", "--model", model, "--input", bad_csv.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("line 3, column 8") && stderr(&o).contains("'oops'"), "{}", stderr(&o));

    let short = dir.path().join("short.csv");
    std::fs::write(&short, "a,b\n1,2\n").unwrap();
    let o = rp(&["certify", "--model", model, "--input", short.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("header has 2 columns but the model takes 11 inputs"), "{}", stderr(&o));

    let garbage = dir.path().join("garbage.onnx");
    std::fs::write(&garbage, b"\x08\x01\x12\xff\xff").unwrap();
    let o = rp(&["certify", "--model", garbage.to_str().unwrap(), "--input", short.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("not a valid ONNX model"), "{}", stderr(&o));

    let o = rp(&["bounds", "--eps", "-1"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--eps must be a finite number"), "{}", stderr(&o));

    let o = rp(&["certify", "--output", "out.txt"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("must end in .csv or .json"), "{}", stderr(&o));

    let o = rp(&["certify", "--domain-lo", "0", "--domain-hi", "1"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("outside the domain box"), "{}", stderr(&o));

    let o = rp(&["certify", "--rel-tol", "2"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--rel-tol must lie in (0, 1)"), "{}", stderr(&o));
    assert!(!stderr(&o).contains("RadiusSearch {"), "no Rust debug structs in messages: {}", stderr(&o));
}

/// Issue 12: an option that does not apply to the method is an error, not silently ignored.
#[test]
fn options_that_do_not_apply_are_errors() {
    for (args, what) in [
        (vec!["certify", "--sigma", "0.5"], "--sigma"),
        (vec!["certify", "--method", "crown", "--attribute", "x0"], "--attribute"),
        (vec!["certify", "--method", "smooth", "--sigma", "1", "--time-limit", "5"], "--time-limit"),
        (vec!["certify", "--method", "ibp", "--alpha-iters", "3"], "--alpha-iters"),
        (vec!["certify", "--method", "line", "--attribute", "x0", "--attribute-range", "-1,1", "--norm", "l2"], "--norm"),
        (vec!["certify", "--threshold", "0.5"], "--threshold"),
        (vec!["compare", "--methods", "crown,smooth", "--sigma", "1"], "--norm l2"),
    ] {
        let o = rp(&args);
        assert!(!o.status.success(), "{args:?} must fail");
        assert!(stderr(&o).contains(what), "{args:?}: {}", stderr(&o));
    }
    // and what does apply still runs
    let o = rp(&["certify", "--method", "milp", "--time-limit", "1", "--pgd-steps", "5"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = rp(&["certify", "--method", "pgd", "--pgd-steps", "0"]);
    assert!(!o.status.success() && stderr(&o).contains("--pgd-steps must be at least 1"), "{}", stderr(&o));
}

/// Issue 12: outputs are checked before the work starts.
#[test]
fn bad_output_paths_fail_before_the_work() {
    let start = std::time::Instant::now();
    let o = rp(&["reproduce", "ape", "--quick", "--output", "/proc/nope/x"]);
    assert!(!o.status.success() && stderr(&o).contains("--output"), "{}", stderr(&o));
    assert!(start.elapsed().as_secs_f64() < 10.0, "the error must come before the run");
    let o = rp(&["certify", "--output", "/nonexistent-folder/out.csv"]);
    assert!(!o.status.success() && stderr(&o).contains("does not exist"), "{}", stderr(&o));
    let o = rp(&["bounds", "--eps", "0.1", "--output", "b.csv"]);
    assert!(!o.status.success() && stderr(&o).contains("must end in .json"), "{}", stderr(&o));
}

/// Issue 12: with a label column the summary reports accuracy and certified accuracy.
#[test]
fn labels_give_accuracy_in_the_summary() {
    let dir = tempfile::tempdir().unwrap();
    let header = (0..11).map(|k| format!("x{k}")).collect::<Vec<_>>().join(",");
    let demo = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("models/demo-mlp/inputs.csv")).unwrap();
    let labelled = dir.path().join("labelled.csv");
    let body: Vec<String> = demo.lines().skip(1).map(|l| format!("{l},0")).collect();
    std::fs::write(&labelled, format!("{header},label\n{}\n", body.join("\n"))).unwrap();
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/demo-mlp/model.onnx");
    let o = rp(&["certify", "--model", model.to_str().unwrap(), "--input", labelled.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("accuracy against the 'label' column") && stderr(&o).contains("certified accuracy"), "{}", stderr(&o));
}

#[test]
fn acasxu_certifies_with_argmin_decisions() {
    let bench = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/benchmarks/acasxu/onnx/ACASXU_run2a_1_1_batch_2000.onnx");
    if !bench.exists() {
        eprintln!("skipped: {} not found", bench.display());
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("acas.csv");
    std::fs::write(&csv, "rho,theta,psi,v_own,v_int\n0.2,0.15,-0.05,-0.14,0.01\n-0.06,0.17,-0.12,-0.01,0.05\n").unwrap();
    let o = rp(&["certify", "--model", bench.to_str().unwrap(), "--input", csv.to_str().unwrap(), "--decision", "argmin"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8(o.stdout).unwrap();
    assert_eq!(out.lines().count(), 3);
    assert!(out.lines().skip(1).all(|l| l.split(',').nth(2).unwrap().parse::<f64>().unwrap() > 0.0), "{out}");
}

#[test]
fn smoothing_modes_shards_and_cohen_tsv() {
    let dir = tempfile::tempdir().unwrap();
    let header = (0..11).map(|k| format!("x{k}")).collect::<Vec<_>>().join(",");
    let demo = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("models/demo-mlp/inputs.csv")).unwrap();
    let labelled = dir.path().join("labelled.csv");
    let body: Vec<String> = demo.lines().skip(1).enumerate().map(|(i, l)| format!("{l},{}", i % 2)).collect();
    std::fs::write(&labelled, format!("{header},label\n{}\n", body.join("\n"))).unwrap();
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/demo-mlp/model.onnx");
    let (model, input) = (model.to_str().unwrap(), labelled.to_str().unwrap());
    let base = ["certify", "--model", model, "--input", input, "--method", "smooth", "--sigma", "0.5", "--n", "2000", "--alpha", "0.01"];
    let full = rp(&base);
    assert!(full.status.success(), "{}", stderr(&full));
    let full = String::from_utf8(full.stdout).unwrap();
    let rows: Vec<&str> = full.lines().skip(1).collect();
    assert_eq!(rows.len(), 20);
    // an answer carries its probabilistic radius; an abstention (issue 11.4) carries none
    for r in &rows {
        let f: Vec<&str> = r.split(',').collect();
        match f[1] {
            "abstain" => assert_eq!((f[2], f[3], f[5]), ("0.0", "none", ""), "{r}"),
            _ => assert_eq!((f[3], f[5]), ("probabilistic", "0.01"), "{r}"),
        }
    }
    // shards concatenate to the whole (time_ms aside)
    let strip = |s: &str| s.lines().skip(1).map(|l| l.rsplitn(2, ',').nth(1).unwrap().to_string()).collect::<Vec<_>>();
    let mut merged = Vec::new();
    for k in 0..3 {
        let shard = format!("{k}/3");
        let o = rp(&[&base[..], &["--shard", &shard]].concat());
        assert!(o.status.success(), "{}", stderr(&o));
        merged.extend(strip(&String::from_utf8(o.stdout).unwrap()));
    }
    assert_eq!(merged, strip(&full));
    // predict and always-label
    for (mode, guarantee) in [("predict", "probabilistic"), ("always-label", "none")] {
        let o = rp(&[&base[..], &["--mode", mode]].concat());
        assert!(o.status.success(), "{}", stderr(&o));
        let out = String::from_utf8(o.stdout).unwrap();
        let zero = |l: &str| l.split(',').nth(2).and_then(|v| v.parse::<f64>().ok()) == Some(0.0);
        let kind = |l: &str| if l.split(',').nth(1) == Some("abstain") { "none" } else { guarantee };
        assert!(out.lines().skip(1).all(|l| l.split(',').nth(3) == Some(kind(l)) && zero(l)), "{out}");
    }
    // Cohen-style TSV
    let tsv = dir.path().join("cohen.tsv");
    let o = rp(&[&base[..], &["--cohen-tsv", tsv.to_str().unwrap()]].concat());
    assert!(o.status.success(), "{}", stderr(&o));
    let t = std::fs::read_to_string(&tsv).unwrap();
    assert_eq!(t.lines().next().unwrap(), "idx\tlabel\tpredict\tradius\tcorrect\ttime");
    assert_eq!(t.lines().count(), 21);
    // errors
    let common = ["certify", "--model", model, "--input", input, "--method", "smooth"];
    for (args, msg) in [
        (["--sigma", "-1", "--n", "2000"], "--sigma must be a finite number > 0"),
        (["--sigma", "0.5", "--n", "5"], "can never certify"),
        (["--sigma", "0.5", "--norm", "linf"], "l2 radii only"),
    ] {
        let o = rp(&[&common[..], &args[..]].concat());
        assert!(!o.status.success(), "{args:?} should fail");
        assert!(stderr(&o).contains(msg), "{args:?}: {}", stderr(&o));
    }
    let o = rp(&["certify", "--method", "smooth"]);
    assert!(stderr(&o).contains("needs --sigma"), "{}", stderr(&o));
    let o = rp(&["certify", "--method", "smooth", "--sigma", "1", "--cohen-tsv", "x.tsv"]);
    assert!(stderr(&o).contains("needs a 'label' column"), "{}", stderr(&o));
}

#[test]
fn synthetic_medical_data_is_reproducible() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.csv"), dir.path().join("b.csv"));
    for p in [&a, &b] {
        let o = rp(&["data", "synth-medical", "--rows", "200", "--seed", "4", "--out", p.to_str().unwrap()]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let text = std::fs::read_to_string(&a).unwrap();
    assert_eq!(text, std::fs::read_to_string(&b).unwrap());
    assert_eq!(text.lines().count(), 201);
    assert!(text.lines().next().unwrap().contains(",bmi,smoker,"));
    let o = rp(&["data", "synth-medical", "--rows", "0", "--out", a.to_str().unwrap()]);
    assert!(!o.status.success() && stderr(&o).contains("--rows must be at least 1"));
}

/// Data → training → APE analysis and certification with a card, through the command line.
#[test]
fn train_then_ape_and_certify_with_a_card() {
    let dir = tempfile::tempdir().unwrap();
    let p = |f: &str| dir.path().join(f).to_str().unwrap().to_string();
    let o = rp(&["data", "synth-medical", "--rows", "3000", "--seed", "2", "--out", &p("d.csv")]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = rp(&["train", "--data", &p("d.csv"), "--out", &p("m"), "--epochs", "40"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("test accuracy"), "{}", stderr(&o));
    let card: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(p("m/card.json")).unwrap()).unwrap();
    assert_eq!(card["sensitive"][0], "bmi");
    let (model, cardp) = (p("m/model.onnx"), p("m/card.json"));
    let o = rp(&["ape", "--model", &model, "--card", &cardp, "--input", &p("d.csv"), "--attribute", "bmi", "--methods", "line,crown,smooth", "--sigma", "1", "--limit", "3", "--output", &p("ape.csv")]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = std::fs::read_to_string(p("ape.csv")).unwrap();
    assert!(text.starts_with("row,mode,sigma,answer,true_value,attacker_lo,attacker_hi,attacker_width,radius,radius_raw,radius_space"), "{text}");
    // issue 11.3: radii along the attribute say so (line: proven exact-1d, crown: sound-1d)
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        match f[1] {
            "line" => assert_eq!((f[10], f[11]), ("attribute", "exact-1d"), "{line}"),
            "crown" => assert_eq!((f[10], f[11]), ("attribute", "sound-1d"), "{line}"),
            _ => assert_eq!(f[10], "full-l2", "{line}"),
        }
    }
    assert_eq!(text.lines().count(), 1 + 3 * 3);
    assert!(stderr(&o).contains("mean attacker interval width"));
    // certify with the card: raw columns follow the contract's columns
    let o = rp(&["certify", "--model", &model, "--card", &cardp, "--input", &p("d.csv"), "--method", "smooth", "--sigma-raw", "2.5", "--n", "1000", "--alpha", "0.01"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(out.lines().next().unwrap().ends_with(",raw_attribute,radius_raw"), "{out}");
    // errors name the thing
    let o = rp(&["ape", "--model", &model, "--card", &cardp, "--input", &p("d.csv"), "--attribute", "weight"]);
    assert!(!o.status.success() && stderr(&o).contains("unknown numeric attribute 'weight'"), "{}", stderr(&o));
    let o = rp(&["certify", "--method", "smooth", "--sigma-raw", "1"]);
    assert!(!o.status.success() && stderr(&o).contains("--sigma-raw needs --card"), "{}", stderr(&o));
}

/// Issue 10: the first command tells a newcomer what happened in one stderr line (model and shape,
/// method, norm, rows, median radius, guarantee, time) while stdout stays the CSV contract.
#[test]
fn certify_prints_a_one_line_summary_on_stderr() {
    let o = rp(&["certify"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    let line = err.lines().find(|l| l.contains("median radius")).unwrap_or_else(|| panic!("no summary line in: {err}"));
    for part in ["model.onnx", "11→64→2", "crown", "linf", "20 rows", "0 abstained", "(sound)", " s"] {
        assert!(line.contains(part), "summary lacks '{part}': {line}");
    }
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(out.lines().next().unwrap().starts_with("row,label,radius"), "stdout must be only the CSV");
    assert_eq!(out.lines().count(), 21);
}

/// Issue 11.5: `rp bounds` refuses a centre outside the domain box, as `rp certify` does (it printed
/// vacuous bounds of an empty region).
#[test]
fn bounds_refuses_a_centre_outside_the_domain_box() {
    let o = rp(&["bounds", "--eps", "0.1", "--domain-lo", "0", "--domain-hi", "1"]);
    assert!(!o.status.success(), "bounds over an empty region must fail");
    assert!(stderr(&o).contains("outside the domain box"), "{}", stderr(&o));
}

/// Issue 11.7: the never-yet-run CUDA path is never picked silently: the CPU is the default device.
#[test]
fn the_cpu_is_the_default_device() {
    let o = rp(&["certify"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stderr(&o).contains("running on the CPU:"), "the default must not probe a GPU: {}", stderr(&o));
    let help = String::from_utf8(rp(&["certify", "--help"]).stdout).unwrap();
    let device = help.split("--device").nth(1).unwrap_or("");
    assert!(device.contains("[default: cpu]"), "{device}");
}

/// Issue 11.3: a line radius is labelled as 1-D — guarantee `exact-1d`, the attribute named in a column
/// after the contract's, JSON norm `line` — so it cannot be read as a full-space ℓ∞ radius.
#[test]
fn line_radii_are_labelled_as_one_dimensional() {
    let o = rp(&["certify", "--method", "line", "--attribute", "x3", "--attribute-range", "-3,3"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8(o.stdout).unwrap();
    let mut lines = out.lines();
    assert_eq!(lines.next().unwrap(), "row,label,radius,guarantee,radius_upper,alpha,time_ms,attribute");
    for l in lines {
        let f: Vec<&str> = l.split(',').collect();
        assert!(f[3] == "exact-1d" || f[3] == "bracket-1d", "{l}");
        assert_eq!(f[7], "x3", "{l}");
        let (lo, hi): (f64, f64) = (f[2].parse().unwrap(), f[4].parse().unwrap());
        assert!(lo <= hi, "{l}");
    }
    let dir = tempfile::tempdir().unwrap();
    let j = dir.path().join("l.json");
    let o = rp(&["certify", "--method", "line", "--attribute", "x3", "--attribute-range", "-3,3", "--output", j.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&j).unwrap()).unwrap();
    assert_eq!((v["norm"].as_str(), v["attribute"].as_str()), (Some("line"), Some("x3")));
    assert!(stderr(&o).contains("(1-D)"), "{}", stderr(&o));
}

/// Issue 11.4: an abstention carries no radius in any output (it printed a probabilistic guarantee).
#[test]
fn abstentions_carry_no_radius() {
    let o = rp(&["certify", "--method", "smooth", "--sigma", "2", "--n", "200", "--alpha", "0.01"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8(o.stdout).unwrap();
    let abstained: Vec<&str> = out.lines().filter(|l| l.split(',').nth(1) == Some("abstain")).collect();
    assert!(!abstained.is_empty(), "σ = 2 with n = 200 abstains on some demo rows:\n{out}");
    for l in abstained {
        let f: Vec<&str> = l.split(',').collect();
        assert_eq!((f[2], f[3], f[4], f[5]), ("0.0", "none", "", ""), "{l}");
    }
}

/// `--method exact` in l2 on three demo rows: the CSV contract, `exact` rows with both ends, and the
/// MILP-only option refused.
#[test]
fn certify_exact_gives_proven_l2_radii() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("x.csv");
    let demo = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/models/demo-mlp/inputs.csv")).unwrap();
    let lines: Vec<&str> = demo.lines().collect();
    std::fs::write(&input, [lines[0], lines[1], lines[5], lines[13]].join("\n")).unwrap();
    let model = concat!(env!("CARGO_MANIFEST_DIR"), "/models/demo-mlp/model.onnx");
    let o = rp(&["certify", "--model", model, "--input", input.to_str().unwrap(), "--method", "exact", "--norm", "l2", "--time-limit", "30"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8(o.stdout).unwrap();
    let rows: Vec<Vec<&str>> = out.lines().skip(1).map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 3);
    for f in &rows {
        assert_eq!(f[3], "exact", "{f:?}");
        let (lo, hi): (f64, f64) = (f[2].parse().unwrap(), f[4].parse().unwrap());
        assert!(0.0 < lo && lo <= hi && hi - lo <= 1e-6 * hi, "{f:?}");
    }
    // rp compare: the exact radius beside CROWN's and the smoothed classifiers' at each σ
    let o = rp(&["compare", "--model", model, "--input", input.to_str().unwrap(), "--methods", "crown,exact,smooth", "--norm", "l2", "--sigma", "0.25,0.5", "--n", "500"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8(o.stdout).unwrap();
    let header: Vec<&str> = out.lines().next().unwrap().split(',').collect();
    for col in ["crown_radius", "exact_radius", "exact_upper", "smooth@0.25_radius", "smooth@0.5_radius"] {
        assert!(header.contains(&col), "{header:?}");
    }
    assert_eq!(out.lines().count(), 4);
    let o = rp(&["certify", "--model", model, "--input", input.to_str().unwrap(), "--method", "smooth", "--sigma", "0.25,0.5"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("rp compare"), "{}", stderr(&o));
    let o = rp(&["certify", "--method", "exact", "--milp-formulation", "per-class"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--method milp"), "{}", stderr(&o));
}
