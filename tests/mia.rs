//! The model-inversion experiment (`rp reproduce mia`, SPEC §4.2) at a tiny scale: every file is
//! written, the results are reproducible, and the attack against the base network works.
use rp::experiment::mia::{run, settings, Config};
use rp::mia::brep::BrepOptions;
use rp::progress::NoProgress;
use rp::train::TrainOptions;

/// A few seconds: short training, one σ at one n, one start per class, 8 rounds of patience.
fn tiny() -> Config {
    let full = Config::full();
    Config {
        target: TrainOptions { epochs: 15, ..full.target.clone() },
        evaluator: TrainOptions { epochs: 15, ..full.evaluator.clone() },
        sigmas: vec![0.5],
        ns: vec![10],
        predict_ns: vec![32],
        restarts: 1,
        brep: BrepOptions { patience: 8, ..full.brep.clone() },
        certify: (20, 200, 0.01),
        ..full
    }
}

#[test]
fn a_tiny_reproduction_writes_every_file_and_repeats_itself() {
    let cfg = tiny();
    let a = run(&cfg, &NoProgress).unwrap();
    // the settings: base, always-label at (0.5, 10), predict at (0.5, 32); every class attacked once each
    assert_eq!(a.settings.len(), settings(&cfg).len());
    assert_eq!(a.settings.len(), 3);
    assert!(a.settings.iter().all(|s| s.runs == 10));
    assert!(a.target_accuracy > 0.85 && a.evaluator_accuracy > 0.85, "{} {}", a.target_accuracy, a.evaluator_accuracy);
    // the base network's oracle is the target itself: its accuracy is the target's
    assert!((a.settings[0].accuracy - a.target_accuracy).abs() < 1e-12);
    // every run's queries are counted: a started run asked at least its rounds' sphere points and moves
    for r in &a.runs {
        assert!(r.run.queries >= r.run.rounds * (a.brep.points as u64 + 1), "{:?}", r.run);
        assert_eq!(r.run.success, r.run.success && r.run.reconstruction.is_some());
    }
    // the base network's attack succeeds on some classes (BREP-MI works on an undefended model)
    assert!(a.settings[0].successes > 0, "{:?}", a.settings[0]);
    let dir = tempfile::tempdir().unwrap();
    let report = rp::experiment::mia_out::write(&a, dir.path()).unwrap();
    for f in ["report.md", "table.csv", "table.md", "runs.csv", "figure3.png", "figure3.svg", "grids/base.png", "grids/label-s0.50-n10.png", "grids/predict-s0.50-n32.png", "models/target.onnx", "models/target.card.json", "models/evaluator.onnx"] {
        let p = dir.path().join(f);
        assert!(std::fs::metadata(&p).map(|m| m.len() > 0).unwrap_or(false), "{f} missing or empty");
    }
    assert!(report.contains("Against the paper") && report.contains("ASR"));
    let table = std::fs::read_to_string(dir.path().join("table.csv")).unwrap();
    assert_eq!(table.lines().count(), 4);
    // the written target is the network attacked
    let back = rp::net::read_onnx(&dir.path().join("models/target.onnx")).unwrap();
    assert_eq!(back.forward(a.split.test.x.row(0)), a.target.forward(a.split.test.x.row(0)));
    // reproducible: the same config gives the same runs
    let b = run(&cfg, &NoProgress).unwrap();
    let key = |o: &rp::experiment::mia::Outcome| o.runs.iter().map(|r| (r.setting, r.run.clone())).collect::<Vec<_>>();
    assert_eq!(key(&a), key(&b));
}
