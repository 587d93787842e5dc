//! `rp reproduce ape`: the paper's §5 experiment (SPEC §4.1) — Table 1, Figures 1 and 4, the expansion
//! E(σ) with its analysis, and the deterministic modes side by side.
use super::data::{paper_train_options, prepare, ApeData};
use super::plot::Histogram;
use crate::ape::{analyze, ApeOptions, ApeRow, Mode};
use crate::bound::{AlphaCrownOptions, BoundMethod, Intermediate};
use crate::cert::{Answer, Batch};
use crate::data::card::ModelCard;
use crate::milp::MilpOptions;
use crate::net::Network;
use crate::progress::Phases;
use crate::smooth::line::{GridNoise, LineRecord, LineSampler};
use crate::smooth::sampler::Phase;
use crate::smooth::stats::{clopper_pearson_lower, clopper_pearson_upper, normal_quantile};
use crate::smooth::{SmoothOptions, SmoothingCertifier};
use crate::spec::Decision;
use crate::train::{train_mlp, TrainLog};
use serde::Serialize;
use std::time::Instant;

/// Scale and settings of a run.
#[derive(Clone, Debug)]
pub struct Config {
    pub rows: u64,
    pub seed: u64,
    /// Positive test records in the augmented set (None: all, as the paper).
    pub augmented_records: Option<usize>,
    pub sigmas: Vec<f64>,
    pub n0: u64,
    pub n: u64,
    pub alpha: f64,
    /// Figure 4: σ, and the (n, α) pairs.
    pub fig4_sigma: f64,
    pub fig4: Vec<(u64, f64)>,
    /// Augmented copies b' = B − j·step, j = 0…steps.
    pub step: f64,
    pub steps: usize,
    /// The smoothed model's own boundary: records and samples per grid point.
    pub boundary_records: usize,
    pub boundary_samples: u64,
    /// Deterministic modes side by side: records, grid step (raw), MILP time limit per record.
    pub mode_records: usize,
    pub mode_grid_step: f64,
    pub milp_time_limit: f64,
    /// Use this model and card instead of training.
    /// A shipped model, its card and its own threshold B (from its train.json) instead of training.
    pub model: Option<(Network, ModelCard, f64)>,
}

impl Config {
    /// A few minutes on 2 cores.
    pub fn quick() -> Self {
        Config { rows: 20_000, augmented_records: Some(400), boundary_records: 20, boundary_samples: 20_000, mode_records: 10, ..Self::full() }
    }

    /// The paper's scale.
    pub fn full() -> Self {
        Config {
            rows: 100_000,
            seed: 0,
            augmented_records: None,
            sigmas: vec![1.0, 2.0, 3.0],
            n0: 100,
            n: 1000,
            alpha: 0.01,
            fig4_sigma: 3.0,
            fig4: vec![(100, 0.01), (100, 0.99), (1000, 0.01), (1000, 0.99)],
            step: 0.01,
            steps: 500,
            boundary_records: 50,
            boundary_samples: 20_000,
            mode_records: 50,
            mode_grid_step: 0.1,
            milp_time_limit: 20.0,
            model: None,
        }
    }
}

/// A row of Table 1.
#[derive(Clone, Debug, Serialize)]
pub struct Table1Row {
    pub model: String,
    pub sigma: Option<f64>,
    /// Abstentions count as wrong.
    pub accuracy: f64,
    pub abstention: f64,
    /// Mean radius (model-input units) over test records answered positive.
    pub mean_radius_positive: Option<f64>,
    pub positives: usize,
    pub paper_accuracy: Option<f64>,
    pub paper_abstention: Option<f64>,
    pub paper_radius: Option<f64>,
}

/// The augmented set under one smoothed configuration.
#[derive(Clone, Debug)]
pub struct AugRun {
    pub sigma: f64,
    pub n: u64,
    pub alpha: f64,
    /// BMI of augmented inputs answered positive.
    pub hist: Histogram,
    pub queries: u64,
    pub abstentions: u64,
    /// Grid copies (b' ≤ B) answered positive, and the smallest such b'.
    pub positives_at_or_below_b: u64,
    pub min_positive: Option<f64>,
    /// (index into the augmented records, grid index j) of every grid copy answered positive.
    positives: Vec<(usize, usize)>,
}

/// E(σ) and what explains it (SPEC §4.1).
#[derive(Clone, Debug, Serialize)]
pub struct ExpansionRow {
    pub sigma: f64,
    pub n: u64,
    pub alpha: f64,
    pub queries: u64,
    pub positives_at_or_below_b: u64,
    /// E = B − min{b' answered positive} (0 when none).
    pub expansion: f64,
    /// α × queries: the expected number of wrong certified answers is at most this.
    pub alpha_times_queries: f64,
    /// Positives at b' ≤ B re-examined with `boundary_samples` independent draws (all, or an even
    /// subsample of at most `MAX_CHECKED`), and how many of them are certification failures (the smoothed
    /// model is negative there: upper 1e-3 Clopper–Pearson bound of P(positive) below ½), truly
    /// positive (lower bound above ½), or undecided.
    pub checked: u64,
    pub failures: u64,
    pub truly_positive: u64,
    pub undecided: u64,
    /// The smoothed model's own boundary b* (where P(positive) = ½), fitted per record on
    /// `boundary_records` records (probit line through the many-sample estimates on [B − 2, B + 2]):
    /// the lowest and the mean, and B − lowest.
    pub boundary_records: usize,
    pub smoothed_boundary_min: Option<f64>,
    pub smoothed_boundary_mean: Option<f64>,
    pub smoothed_expansion: f64,
    pub boundary_samples: u64,
}

/// At most this many positives per configuration are re-examined with many samples.
pub const MAX_CHECKED: usize = 2000;

/// Everything a run measured.
pub struct Outcome {
    pub threshold: f64,
    pub train_rows: usize,
    pub test_rows: usize,
    pub train_log: Option<TrainLog>,
    pub table1: Vec<Table1Row>,
    pub base_hist: Histogram,
    pub runs: Vec<AugRun>,
    pub expansion: Vec<ExpansionRow>,
    pub augmented_records: usize,
    pub modes: Vec<ApeRow>,
    pub timings: Vec<(String, f64)>,
    pub net: Network,
    pub card: ModelCard,
}

/// The paper's Table 1 values (accuracy, abstention, radius) by σ.
pub fn paper_values(sigma: Option<f64>) -> Option<(f64, f64, Option<f64>)> {
    match sigma {
        None => Some((1.0, 0.0, None)),
        Some(s) if s == 1.0 => Some((0.9636, 0.0364, Some(0.56))),
        Some(s) if s == 2.0 => Some((0.9276, 0.0723, Some(0.63))),
        Some(s) if s == 3.0 => Some((0.8904, 0.1096, Some(0.65))),
        _ => None,
    }
}

fn smooth_options(cfg: &Config, sigma: f64, n: u64, alpha: f64) -> SmoothOptions {
    SmoothOptions { sigma, n0: cfg.n0, n, alpha, seed: cfg.seed, noise_space: crate::smooth::sampler::NoiseSpace::Input, ..Default::default() }
}

/// Runs the whole experiment.
pub fn run(cfg: &Config, phases: &dyn Phases) -> crate::Result<Outcome> {
    let mut timings = Vec::new();
    let mut clock = Instant::now();
    let mut lap = |name: &str, timings: &mut Vec<(String, f64)>| {
        timings.push((name.to_string(), clock.elapsed().as_secs_f64()));
        clock = Instant::now();
    };
    phases.phase("data", 1);
    let data = prepare(cfg.rows, cfg.seed)?;
    lap("data", &mut timings);
    let (net, card, train_log, data) = match &cfg.model {
        Some((net, card, b)) => {
            // re-express the test split with the given card, and label it with the model's own B
            let test_x = card.transform_table(&data.test_raw, std::path::Path::new("<synthetic data>"))?;
            let attr = crate::ape::Attribute::from_card(card, super::data::SENSITIVE)?;
            let mut data = ApeData { test_x, attr, card: card.clone(), ..data };
            data.relabel(*b)?;
            (net.clone(), card.clone(), None, data)
        }
        None => {
            phases.phase("training", 1);
            let (net, log) = train_mlp(data.train_x.view(), &data.train_y, &paper_train_options(&data, cfg.seed))?;
            (net, data.card.clone(), Some(log), data)
        }
    };
    if net.input_dim() != data.test_x.ncols() {
        return Err(crate::Error::Option(format!("the model takes {} inputs but its card describes {}", net.input_dim(), data.test_x.ncols())));
    }
    lap("training", &mut timings);
    let table1 = table1(cfg, &net, &data, phases)?;
    lap("table 1", &mut timings);
    let (base_hist, runs, records) = augmented(cfg, &net, &data, phases)?;
    lap("augmented set", &mut timings);
    let expansion = expansion(cfg, &net, &data, &runs, &records, phases)?;
    lap("expansion analysis", &mut timings);
    let modes = modes(cfg, &net, &data, &records, phases)?;
    lap("deterministic modes", &mut timings);
    Ok(Outcome {
        threshold: data.threshold,
        train_rows: data.train_y.len(),
        test_rows: data.test_y.len(),
        train_log,
        table1,
        base_hist,
        runs,
        expansion,
        augmented_records: records.len(),
        modes,
        timings,
        net,
        card,
    })
}

/// Table 1: the base network and CERTIFY at each σ on every test record.
fn table1(cfg: &Config, net: &Network, data: &ApeData, phases: &dyn Phases) -> crate::Result<Vec<Table1Row>> {
    let row = |model: String, sigma: Option<f64>, answers: &[(Answer, f64)]| {
        let n = answers.len() as f64;
        let correct = answers.iter().zip(&data.test_y).filter(|((a, _), &y)| *a == Answer::Class(y)).count();
        let abstain = answers.iter().filter(|(a, _)| *a == Answer::Abstain).count();
        let pos: Vec<f64> = answers.iter().filter(|(a, _)| *a == Answer::Class(1)).map(|(_, r)| *r).collect();
        let paper = paper_values(sigma);
        Table1Row {
            model,
            sigma,
            accuracy: correct as f64 / n,
            abstention: abstain as f64 / n,
            mean_radius_positive: sigma.and((!pos.is_empty()).then(|| pos.iter().sum::<f64>() / pos.len() as f64)),
            positives: pos.len(),
            paper_accuracy: paper.map(|p| p.0),
            paper_abstention: paper.map(|p| p.1),
            paper_radius: paper.and_then(|p| p.2),
        }
    };
    let out = net.forward_batch(data.test_x.view());
    let base: Vec<(Answer, f64)> = out.outer_iter().map(|o| (Answer::Class(Decision::Argmax.decide(o).0), 0.0)).collect();
    let mut rows = vec![row("base".into(), None, &base)];
    let ids: Vec<usize> = (0..data.test_y.len()).collect();
    for &sigma in &cfg.sigmas {
        phases.phase(&format!("Table 1, σ = {sigma}"), ids.len() as u64);
        let certifier = SmoothingCertifier { net: net.clone(), decision: Decision::Argmax, options: smooth_options(cfg, sigma, cfg.n, cfg.alpha) };
        let certs = certifier.run(Batch { inputs: data.test_x.view(), row_ids: &ids }, phases)?;
        let answers: Vec<(Answer, f64)> = certs.iter().map(|(c, _)| (c.answer(), c.radius_value())).collect();
        rows.push(row(format!("smoothed σ = {sigma}"), Some(sigma), &answers));
    }
    Ok(rows)
}

/// Grid b'_j = B − j·step as raw values.
fn grid(cfg: &Config, b: f64) -> Vec<f64> {
    (0..=cfg.steps).map(|j| b - j as f64 * cfg.step).collect()
}

/// Histogram bins: width 0.2 from B − steps·step up to the largest BMI, so that B is a bin edge.
fn new_hist(cfg: &Config, b: f64, max_value: f64) -> Histogram {
    let lo = b - cfg.steps as f64 * cfg.step;
    let bins = ((max_value - lo) / 0.2).floor() as usize + 1;
    Histogram::new(lo, 0.2, bins)
}

/// The bin of grid copy j, computed in integers (grid values sit on bin edges).
fn grid_bin(cfg: &Config, j: usize) -> usize {
    let per_bin = (0.2 / cfg.step).round() as usize;
    (cfg.steps - j) / per_bin.max(1)
}

/// The augmented set under the base network and every smoothed configuration of Figures 1 and 4.
fn augmented(cfg: &Config, net: &Network, data: &ApeData, phases: &dyn Phases) -> crate::Result<(Histogram, Vec<AugRun>, Vec<usize>)> {
    let b = data.threshold;
    let out = net.forward_batch(data.test_x.view());
    let mut records: Vec<usize> = (0..data.test_y.len()).filter(|&i| Decision::Argmax.decide(out.row(i)).0 == 1).collect();
    if let Some(m) = cfg.augmented_records {
        records.truncate(m);
    }
    if records.is_empty() {
        return Err(crate::Error::Option("no test record is predicted positive: nothing to augment (use more --rows)".into()));
    }
    let k = data.attr.index;
    let raw_grid = grid(cfg, b);
    let true_values: Vec<f64> = records.iter().map(|&i| data.attr.raw(data.test_x[[i, k]])).collect();
    let max_value = true_values.iter().copied().fold(b, f64::max);
    // base network
    let mut base_hist = new_hist(cfg, b, max_value);
    for (&i, &z) in records.iter().zip(&true_values) {
        let mut x = data.test_x.row(i).to_owned();
        base_hist.add(z);
        for (j, &v) in raw_grid.iter().enumerate() {
            x[k] = data.attr.model(v);
            if Decision::Argmax.decide(net.forward(x.view()).view()).0 == 1 {
                base_hist.add_bin(grid_bin(cfg, j));
            }
        }
    }
    // smoothed: one sampling pass per (σ, n), decisions for each α of that pass
    let mut passes: Vec<(f64, u64, Vec<f64>)> = cfg.sigmas.iter().map(|&s| (s, cfg.n, vec![cfg.alpha])).collect();
    for &(n, alpha) in &cfg.fig4 {
        match passes.iter_mut().find(|p| p.0 == cfg.fig4_sigma && p.1 == n) {
            Some(p) if !p.2.contains(&alpha) => p.2.push(alpha),
            Some(_) => {}
            None => passes.push((cfg.fig4_sigma, n, vec![alpha])),
        }
    }
    let values: Vec<Vec<f64>> =
        records.iter().map(|&i| std::iter::once(data.test_x[[i, k]]).chain(raw_grid.iter().map(|&v| data.attr.model(v))).collect()).collect();
    let mut runs = Vec::new();
    for (sigma, n, alphas) in passes {
        phases.phase(&format!("augmented set, σ = {sigma}, n = {n}"), records.len() as u64);
        let sampler = LineSampler::new(net, sigma, cfg.seed, Decision::Argmax, GridNoise::Independent)?;
        let certifiers: Vec<SmoothingCertifier> =
            alphas.iter().map(|&a| SmoothingCertifier { net: net.clone(), decision: Decision::Argmax, options: smooth_options(cfg, sigma, n, a) }).collect();
        for c in &certifiers {
            c.options.validate()?;
        }
        let deciders: Vec<_> = certifiers.iter().map(SmoothingCertifier::decider).collect::<crate::Result<_>>()?;
        let mut these: Vec<AugRun> = alphas
            .iter()
            .map(|&alpha| AugRun {
                sigma,
                n,
                alpha,
                hist: new_hist(cfg, b, max_value),
                queries: 0,
                abstentions: 0,
                positives_at_or_below_b: 0,
                min_positive: None,
                positives: Vec::new(),
            })
            .collect();
        for (g, group) in records.chunks(16).enumerate() {
            let recs: Vec<LineRecord> = group
                .iter()
                .enumerate()
                .map(|(j, &i)| LineRecord { x: data.test_x.row(i), row: i as u64, values: &values[g * 16 + j] })
                .collect();
            let sel = sampler.counts(&recs, k, Phase::Selection, cfg.n0)?;
            let est = sampler.counts(&recs, k, Phase::Estimation, n)?;
            for (r, (s, e)) in sel.iter().zip(&est).enumerate() {
                let index = g * 16 + r;
                for (run, c) in these.iter_mut().zip(&deciders) {
                    let answers: Vec<Answer> = s.iter().zip(e).map(|(s, e)| c.decide(Some(s), e).0).collect();
                    tally(cfg, run, &answers, true_values[index], &raw_grid, index);
                }
            }
            phases.advance(group.len() as u64);
        }
        runs.extend(these);
    }
    Ok((base_hist, runs, records))
}

/// Adds one record's answers (original, then grid copies) to a run.
fn tally(cfg: &Config, run: &mut AugRun, answers: &[Answer], true_value: f64, raw_grid: &[f64], record: usize) {
    let positive = |a: &Answer| *a == Answer::Class(1);
    run.queries += answers.len() as u64;
    run.abstentions += answers.iter().filter(|a| **a == Answer::Abstain).count() as u64;
    if positive(&answers[0]) {
        run.hist.add(true_value);
    }
    for (j, a) in answers[1..].iter().enumerate() {
        if positive(a) {
            run.hist.add_bin(grid_bin(cfg, j));
            run.positives_at_or_below_b += 1;
            run.min_positive = Some(run.min_positive.map_or(raw_grid[j], |m: f64| m.min(raw_grid[j])));
            run.positives.push((record, j));
        }
    }
}

/// E(σ); every positive below B re-examined with many independent samples (failure of the certificate,
/// or truly positive); and the smoothed model's own boundary b* fitted per record (SPEC §4.1).
fn expansion(cfg: &Config, net: &Network, data: &ApeData, runs: &[AugRun], records: &[usize], phases: &dyn Phases) -> crate::Result<Vec<ExpansionRow>> {
    let b = data.threshold;
    let k = data.attr.index;
    let raw_grid = grid(cfg, b);
    let level = 1e-3;
    let n_big = cfg.boundary_samples;
    // the smoothed model's boundary per σ: probit fit on [B − 2, B + 2], step 0.02, independent draws per
    // point (with shared draws a record's whole curve would shift with its sample's bias)
    let fit_grid: Vec<f64> = (0..=200).map(|i| b - 2.0 + 0.02 * i as f64).collect();
    let fit_values: Vec<f64> = fit_grid.iter().map(|&v| data.attr.model(v)).collect();
    let subset = &records[..cfg.boundary_records.min(records.len())];
    let mut sigmas: Vec<f64> = runs.iter().map(|r| r.sigma).collect();
    sigmas.sort_by(f64::total_cmp);
    sigmas.dedup();
    let mut boundaries: Vec<(f64, Vec<f64>)> = Vec::new();
    for &sigma in &sigmas {
        phases.phase(&format!("smoothed boundary, σ = {sigma}, {n_big} samples per point"), subset.len() as u64);
        let sampler = LineSampler::new(net, sigma, cfg.seed.wrapping_add(1), Decision::Argmax, GridNoise::Independent)?;
        let mut found = Vec::new();
        for group in subset.chunks(4) {
            let recs: Vec<LineRecord> = group.iter().map(|&i| LineRecord { x: data.test_x.row(i), row: i as u64, values: &fit_values }).collect();
            for counts in sampler.counts(&recs, k, Phase::Estimation, n_big)? {
                let p: Vec<f64> = counts.iter().map(|c| c[1] as f64 / n_big as f64).collect();
                found.extend(probit_crossing(&fit_grid, &p));
            }
            phases.advance(group.len() as u64);
        }
        boundaries.push((sigma, found));
    }
    // every positive below B (or an even subsample), re-examined with n_big independent draws
    let mut rows = Vec::new();
    for run in runs {
        let stride = run.positives.len().div_ceil(MAX_CHECKED).max(1);
        let chosen: Vec<(usize, usize)> = run.positives.iter().copied().step_by(stride).collect();
        phases.phase(&format!("re-examining positives below B, σ = {}, n = {}, α = {}", run.sigma, run.n, run.alpha), chosen.len() as u64);
        let sampler = LineSampler::new(net, run.sigma, cfg.seed.wrapping_add(2), Decision::Argmax, GridNoise::Independent)?;
        let values: Vec<[f64; 1]> = chosen.iter().map(|&(_, j)| [data.attr.model(raw_grid[j])]).collect();
        let (mut failures, mut truly, mut undecided) = (0, 0, 0);
        for (g, group) in chosen.chunks(64).enumerate() {
            let recs: Vec<LineRecord> =
                group.iter().enumerate().map(|(q, &(r, _))| LineRecord { x: data.test_x.row(records[r]), row: records[r] as u64, values: &values[g * 64 + q] }).collect();
            for c in sampler.counts(&recs, k, Phase::Estimation, n_big)? {
                let hits = c[0][1];
                if clopper_pearson_upper(hits, n_big, level) < 0.5 {
                    failures += 1;
                } else if clopper_pearson_lower(hits, n_big, level) > 0.5 {
                    truly += 1;
                } else {
                    undecided += 1;
                }
            }
            phases.advance(group.len() as u64);
        }
        let found = &boundaries.iter().find(|f| f.0 == run.sigma).expect("one fit per σ").1;
        let min = found.iter().copied().reduce(f64::min);
        rows.push(ExpansionRow {
            sigma: run.sigma,
            n: run.n,
            alpha: run.alpha,
            queries: run.queries,
            positives_at_or_below_b: run.positives_at_or_below_b,
            expansion: run.min_positive.map_or(0.0, |m| b - m),
            alpha_times_queries: run.alpha * run.queries as f64,
            checked: chosen.len() as u64,
            failures,
            truly_positive: truly,
            undecided,
            boundary_records: found.len(),
            smoothed_boundary_min: min,
            smoothed_boundary_mean: (!found.is_empty()).then(|| found.iter().sum::<f64>() / found.len() as f64),
            smoothed_expansion: min.map_or(0.0, |m| (b - m).max(0.0)),
            boundary_samples: n_big,
        });
    }
    Ok(rows)
}

/// Where a monotone probability curve crosses ½: the least-squares line through (v, Φ⁻¹(p)) over points
/// with p ∈ [0.02, 0.98], solved for Φ⁻¹(p) = 0 (exact for a threshold model under Gaussian noise, whose
/// Φ⁻¹(p) is linear in v). None when fewer than 3 points qualify or the fitted slope is not positive.
pub fn probit_crossing(values: &[f64], p: &[f64]) -> Option<f64> {
    let pts: Vec<(f64, f64)> = values.iter().zip(p).filter(|(_, &q)| (0.02..=0.98).contains(&q)).map(|(&v, &q)| (v, normal_quantile(q))).collect();
    if pts.len() < 3 {
        return None;
    }
    let n = pts.len() as f64;
    let (mx, my) = (pts.iter().map(|p| p.0).sum::<f64>() / n, pts.iter().map(|p| p.1).sum::<f64>() / n);
    let sxy: f64 = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let sxx: f64 = pts.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let slope = sxy / sxx;
    (slope > 0.0).then(|| mx - my / slope)
}

/// The first `mode_records` augmented records under every deterministic mode and each σ.
fn modes(cfg: &Config, net: &Network, data: &ApeData, records: &[usize], phases: &dyn Phases) -> crate::Result<Vec<ApeRow>> {
    let chosen = &records[..cfg.mode_records.min(records.len())];
    let inputs = data.test_x.select(ndarray::Axis(0), chosen);
    let mut modes = vec![
        Mode::Line,
        Mode::Bound(BoundMethod::Ibp),
        Mode::Bound(BoundMethod::Crown(Intermediate::UnstableOnly)),
        Mode::Bound(BoundMethod::AlphaCrown(AlphaCrownOptions::default())),
        Mode::Milp(MilpOptions { time_limit: cfg.milp_time_limit, ..Default::default() }),
    ];
    modes.extend(cfg.sigmas.iter().map(|&s| Mode::Smooth(smooth_options(cfg, s, cfg.n, cfg.alpha))));
    phases.phase("deterministic modes and smoothing, side by side", (chosen.len() * modes.len()) as u64);
    let opts = ApeOptions { grid_step: cfg.mode_grid_step, ..Default::default() };
    analyze(net, &data.attr, inputs.view(), chosen, &modes, &opts, phases)
}
