//! VNN-LIB reading (issue 13): every VNN-COMP property in ../shared parses into the expected DNF, and
//! mutated or random text never panics.
mod common;
use proptest::prelude::*;
use rp::vnnlib::{parse_vnnlib, read_vnnlib};


#[test]
fn vnncomp_properties_parse() {
    let Some(bench) = common::shared_benchmarks() else { return };
    let mut n = 0;
    for (dir, inputs, outputs) in [("acasxu/vnnlib", 5, 5), ("mnistfc/vnnlib", 784, 10)] {
        for entry in std::fs::read_dir(bench.join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().and_then(|e| e.to_str()) != Some("vnnlib") {
                continue;
            }
            let p = read_vnnlib(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_eq!((p.n_inputs, p.n_outputs), (inputs, outputs), "{}", path.display());
            assert!(!p.terms.is_empty(), "{}", path.display());
            for t in &p.terms {
                let (lo, hi) = t.outer_box();
                assert!(lo.iter().zip(&hi).all(|(l, h)| l <= h), "{}", path.display());
            }
            n += 1;
        }
    }
    assert_eq!(n, 10 + 30);
    let p6 = read_vnnlib(&bench.join("acasxu/vnnlib/prop_6.vnnlib")).unwrap();
    assert_eq!(p6.terms.len(), 2 * 4, "two input boxes × four output disjuncts");
    let p7 = read_vnnlib(&bench.join("acasxu/vnnlib/prop_7.vnnlib")).unwrap();
    assert_eq!((p7.terms.len(), p7.terms[0].constraints.len()), (2, 3));
    let m = read_vnnlib(&bench.join("mnistfc/vnnlib/prop_0_0.03.vnnlib")).unwrap();
    assert_eq!(m.terms.len(), 9, "one disjunct per other class");
}

fn seed_text() -> String {
    "; a property\n(declare-const X_0 Real)\n(declare-const X_1 Real)\n(declare-const Y_0 Real)\n(declare-const Y_1 Real)\n\
     (assert (<= X_0 0.679857769))\n(assert (>= X_0 -0.5))\n(assert (or (and (<= X_1 1e-3) (>= X_1 -2)) (and (<= X_1 5) (>= X_1 4))))\n\
     (assert (or (and (<= Y_0 Y_1)) (and (>= (+ Y_0 (* 2 Y_1)) 3.5) (<= (- Y_1) 1))))\n"
        .to_string()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: std::env::var("RP_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(3000), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn mutated_properties_never_panic(edits in prop::collection::vec((any::<usize>(), prop_oneof![
        Just("("), Just(")"), Just(" "), Just("X_9"), Just("Y_0"), Just("-"), Just("1e400"), Just("nan"), Just("and"), Just("or"),
        Just("<="), Just(";"), Just("\n"), Just("declare-const"), Just("0.1"), Just("*"), Just("+"), Just("X_01")
    ], any::<bool>()), 1..8)) {
        let mut t = seed_text();
        for (at, s, delete) in edits {
            let i = at % (t.len() + 1);
            let i = (0..=i).rev().find(|&k| t.is_char_boundary(k)).unwrap_or(0);
            if delete && i < t.len() {
                let j = (i + 1..=t.len()).find(|&k| t.is_char_boundary(k)).unwrap();
                t.replace_range(i..j, "");
            } else {
                t.insert_str(i, s);
            }
        }
        let _ = parse_vnnlib(&t);
    }

    #[test]
    fn random_text_never_panics(t in "[()XY_0-9 .<=>a-z;\\n+*-]{0,300}") {
        let _ = parse_vnnlib(&t);
    }
}
