//! The CROWN radius search with and without its root finder, on the same rows in one run: batched
//! bound rounds, checks (bound computations) per row, time, and the largest relative gap between the two
//! searches' radii. "bisection" starts every row at `eps_start` and feeds the search ±∞ margins, so it
//! doubles and bisects exactly as the classic yes/no search does; "root finder" is the default search:
//! the estimated start (RADIUS-3) and the margins' proven lower bounds (RADIUS-1 either way).
//!
//!     cargo run --release --example radius_calls -- MODEL.onnx INPUTS.csv [linf|l2|l1] [argmax|argmin]
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use rp::bound::BoundMethod;
use rp::cert::deterministic::{lockstep_search, BoundCertifier};
use rp::cert::{Batch, Certificate, RadiusSearch, SearchStart};
use rp::spec::{Decision, Norm};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    anyhow::ensure!((3..=5).contains(&args.len()), "usage: radius_calls MODEL.onnx INPUTS.csv [linf|l2|l1] [argmax|argmin]");
    let net = rp::net::read_onnx(args[1].as_ref())?;
    let inputs = rp::data::read_inputs(args[2].as_ref(), net.input_dim())?.rows;
    let norm = match args.get(3).map_or("linf", String::as_str) {
        "linf" => Norm::Linf,
        "l2" => Norm::L2,
        "l1" => Norm::L1,
        other => anyhow::bail!("unknown norm {other}: use linf, l2 or l1"),
    };
    let decision = match args.get(4).map_or("argmax", String::as_str) {
        "argmax" => Decision::Argmax,
        "argmin" => Decision::Argmin,
        other => anyhow::bail!("unknown decision {other}: use argmax or argmin"),
    };
    let cert = BoundCertifier { net, method: BoundMethod::crown(), norm, decision, domain: None, search: Default::default() };
    let ids: Vec<usize> = (0..inputs.nrows()).collect();
    let mut radii: Vec<Vec<f64>> = Vec::new();
    for (name, signs_only) in [("bisection", true), ("root finder", false)] {
        let (rounds, checks) = (AtomicUsize::new(0), AtomicUsize::new(0));
        let start = Instant::now();
        let search = if signs_only { RadiusSearch { start: SearchStart::Fixed, ..cert.search.clone() } } else { cert.search.clone() };
        let certs = lockstep_search(&cert.net, decision, norm, &search, Batch { inputs: inputs.view(), row_ids: &ids }, &rp::progress::NoProgress, |c, k, e| {
            rounds.fetch_add(1, Ordering::Relaxed);
            checks.fetch_add(k.len(), Ordering::Relaxed);
            let m = cert.certifies(c, k, e);
            if signs_only {
                m.into_iter().map(|c| rp::cert::deterministic::Check { margin: if c.margin > 0.0 { f64::INFINITY } else { f64::NEG_INFINITY }, floor: 0.0 }).collect()
            } else {
                m
            }
        })?;
        let secs = start.elapsed().as_secs_f64();
        let (rounds, checks) = (rounds.into_inner(), checks.into_inner());
        println!("{name:>12}: {} rows, {rounds} batched bound rounds, {:.2} checks per row, {secs:.3} s", ids.len(), checks as f64 / ids.len() as f64);
        radii.push(certs.iter().map(Certificate::radius_value).collect());
    }
    let gap = radii[0].iter().zip(&radii[1]).map(|(a, b)| (a - b).abs() / a.max(*b).max(f64::MIN_POSITIVE)).fold(0.0, f64::max);
    for (i, (a, b)) in radii[0].iter().zip(&radii[1]).enumerate() {
        if (a - b).abs() > 1e-3 * a.max(*b) && std::env::var_os("RADIUS_CALLS_DEBUG").is_some() {
            println!("row {i}: bisection {a:.6e}, root finder {b:.6e}");
        }
    }
    let (sum0, sum1): (f64, f64) = (radii[0].iter().sum(), radii[1].iter().sum());
    let larger = radii[0].iter().zip(&radii[1]).filter(|(a, b)| *b > *a).count();
    let differ = radii[0].iter().zip(&radii[1]).filter(|(a, b)| (*a - *b).abs() > 1e-4 * a.max(**b)).count();
    println!("mean radius: bisection {:.6e}, root finder {:.6e}; {differ} rows differ beyond the tolerance ({larger} larger with the root finder)", sum0 / ids.len() as f64, sum1 / ids.len() as f64);
    println!("largest relative gap between the two searches' radii: {gap:.2e} (tolerance 1e-4 each)");
    Ok(())
}
