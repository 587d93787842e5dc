//! `rp reproduce mia`: the paper's §6 (Figure 3) on a CPU (SPEC §4.2) — label-only BREP-MI against the
//! base classifier and against Robust Privacy's smoothed classifier, on the 8×8 digits.
//!
//! The digits are split (seeded) into a public part (the attacker's: it fits the generator prior, its
//! labels unused) and a private part, whose training share trains the *target* (the attacked MLP) and a
//! differently built *evaluator* (another architecture and seed, as the paper's evaluator), and whose
//! held-out share measures every oracle's accuracy. For each oracle setting — the base network, and
//! the smoothed target at each σ and n (always-label, the paper's protocol; PREDICT, which may abstain)
//! — BREP-MI attacks every target class from several seeded starts; the attack success rate (ASR) is
//! the share of runs whose reconstruction the evaluator assigns to the target class.
use crate::bound::BoundMethod;
use crate::cert::{Batch, BoundCertifier, RadiusSearch};
use crate::data::digits::{split, Digits, Split, CLASSES};
use crate::mia::brep::{attack, BrepOptions, BrepRun};
use crate::mia::oracle::{accuracy, Base, Oracle, Smoothed, Vote};
use crate::mia::prior::{Prior, PriorKind};
use crate::net::Network;
use crate::progress::Phases;
use crate::smooth::{SmoothMode, SmoothOptions, SmoothingCertifier};
use crate::spec::{Decision, Norm};
use crate::train::{train_mlp, TrainOptions};
use crate::Result;
use ndarray::{Array1, Array2, Axis};
use rayon::prelude::*;
use serde::Serialize;
use std::time::Instant;

/// Scale and settings of a run.
#[derive(Clone, Debug, Serialize)]
pub struct Config {
    pub seed: u64,
    /// Share of the digits that is public (the attacker's), and the private part's training share.
    pub public_share: f64,
    pub train_share: f64,
    pub target: TrainOptions,
    pub evaluator: TrainOptions,
    pub prior: PriorKind,
    /// Latent dimension of the PCA prior.
    pub pca_components: usize,
    /// Noise levels (pixels in [0, 1]) and draws per query of the smoothed oracles.
    pub sigmas: Vec<f64>,
    pub ns: Vec<u64>,
    /// The abstaining oracle (PREDICT at this level) is run with these n (empty: not run).
    pub predict_ns: Vec<u64>,
    pub predict_alpha: f64,
    /// Attack runs: every target class, from this many seeded starts each.
    pub restarts: usize,
    /// The attack's parameters; `radius` and `max_step` are set from the prior's spread (see [`scaled`]).
    pub brep: BrepOptions,
    /// The smoothed target's CERTIFY at each reconstruction: n₀, n, α.
    pub certify: (u64, u64, f64),
}

impl Config {
    /// About two minutes on 2 cores: the σ grid at both n, 2 starts per class, 40 rounds of patience.
    pub fn quick() -> Self {
        Config { restarts: 2, brep: BrepOptions { patience: 40, ..Self::full().brep }, certify: (100, 1000, 0.001), predict_ns: vec![100], ..Self::full() }
    }

    /// The full run (about 10 minutes on 2 cores): 5 starts per class, 300 rounds of patience.
    pub fn full() -> Self {
        Config {
            seed: 0,
            public_share: 0.5,
            train_share: 0.7,
            target: TrainOptions { hidden: vec![64, 32], epochs: 60, batch: 64, learning_rate: 0.01, l1: 0.0, l1_exempt: vec![], noise_sigma: 0.0, seed: 1 },
            evaluator: TrainOptions { hidden: vec![128], epochs: 60, batch: 64, learning_rate: 0.01, l1: 0.0, l1_exempt: vec![], noise_sigma: 0.0, seed: 2 },
            prior: PriorKind::Pca,
            pca_components: 16,
            sigmas: vec![0.1, 0.25, 0.5, 0.75, 1.0],
            ns: vec![10, 100],
            predict_ns: vec![100],
            predict_alpha: 0.01,
            restarts: 5,
            brep: BrepOptions { patience: 300, max_radius: f64::INFINITY, ..Default::default() },
            certify: (100, 10_000, 0.001),
        }
    }
}

/// BREP-MI's R₀ = 2 and step cap 3 are the authors', in a 100-dimensional N(0, I) latent whose RMS
/// spread is 10; here they keep that ratio to the prior's own RMS spread s (the root of the summed
/// variances of the public data's latent codes): R₀ = 0.2·s, step cap 0.3·s. The radius cap is
/// R₀·1.3⁸ (SPEC §4.2).
pub fn scaled(brep: &BrepOptions, spread: f64) -> BrepOptions {
    let radius = 0.2 * spread;
    BrepOptions { radius, max_step: 0.3 * spread, max_radius: radius * brep.growth.powi(8), ..brep.clone() }
}

/// An oracle the attacker queries.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub enum Setting {
    /// The base target network.
    Base,
    /// The smoothed target (σ in pixel units, n draws per query).
    Smoothed { sigma: f64, n: u64, vote: Vote },
}

impl Setting {
    /// A short name for files and tables, e.g. `base`, `label-s0.50-n100`, `predict-s0.50-n100`.
    pub fn name(&self) -> String {
        match self {
            Setting::Base => "base".into(),
            Setting::Smoothed { sigma, n, vote: Vote::Majority } => format!("label-s{sigma:.2}-n{n}"),
            Setting::Smoothed { sigma, n, vote: Vote::Predict { .. } } => format!("predict-s{sigma:.2}-n{n}"),
        }
    }

    fn oracle<'a>(&self, net: &'a Network, seed: u64) -> Result<Box<dyn Oracle + 'a>> {
        Ok(match *self {
            Setting::Base => Box::new(Base::new(net)),
            Setting::Smoothed { sigma, n, vote } => Box::new(Smoothed::new(net, sigma, n, vote, seed)?),
        })
    }
}

/// One attack run and what was measured at its reconstruction.
#[derive(Clone, Debug)]
pub struct RunRecord {
    pub setting: usize,
    pub restart: usize,
    pub run: BrepRun,
    pub seconds: f64,
    /// The smoothed target's certified ℓ2 radius at the reconstruction (CERTIFY at the setting's σ;
    /// None for the base, an abstention as 0), and CROWN's certified ℓ2 radius of the base there.
    pub smoothed_radius: Option<f64>,
    pub crown_radius: Option<f64>,
}

/// A setting's results.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    pub setting: Setting,
    pub name: String,
    pub runs: usize,
    /// Runs that found a start the oracle labels as the target.
    pub started: usize,
    pub successes: usize,
    pub asr: f64,
    /// 95% Clopper–Pearson interval of the ASR.
    pub asr_ci: (f64, f64),
    /// The oracle's accuracy on the held-out split (abstentions count as wrong), and its abstentions.
    pub accuracy: f64,
    pub abstained: usize,
    pub queries: u64,
    pub seconds: f64,
    pub median_growths: f64,
    pub median_smoothed_radius: Option<f64>,
    pub median_crown_radius: Option<f64>,
}

/// Everything a run produced.
pub struct Outcome {
    pub config: Config,
    pub brep: BrepOptions,
    pub split: Split,
    pub target: Network,
    pub evaluator: Network,
    pub target_accuracy: f64,
    pub evaluator_accuracy: f64,
    pub prior: Prior,
    pub settings: Vec<Summary>,
    pub runs: Vec<RunRecord>,
    /// (phase, seconds).
    pub phases: Vec<(String, f64)>,
}

/// SplitMix64: one well-mixed seed from a seed and a tag.
pub fn mix(seed: u64, tag: u64) -> u64 {
    let mut z = seed ^ tag.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The oracle settings of a config: the base, always-label at every (σ, n), PREDICT at every (σ, n)
/// of `predict_ns`.
pub fn settings(cfg: &Config) -> Vec<Setting> {
    let mut out = vec![Setting::Base];
    for &n in &cfg.ns {
        out.extend(cfg.sigmas.iter().map(|&sigma| Setting::Smoothed { sigma, n, vote: Vote::Majority }));
    }
    for &n in &cfg.predict_ns {
        out.extend(cfg.sigmas.iter().map(|&sigma| Setting::Smoothed { sigma, n, vote: Vote::Predict { alpha: cfg.predict_alpha } }));
    }
    out
}

/// The median of the finite values (None when there are none).
fn median(mut v: Vec<f64>) -> Option<f64> {
    v.retain(|x| x.is_finite());
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    Some(if v.len() % 2 == 1 { v[m] } else { 0.5 * (v[m - 1] + v[m]) })
}

/// Runs the experiment.
pub fn run(cfg: &Config, progress: &dyn Phases) -> Result<Outcome> {
    let mut phases = Vec::new();
    let t = Instant::now();
    progress.phase("data, models and prior", 3);
    let all = Digits::bundled()?;
    let split = split(&all, cfg.seed, cfg.public_share, cfg.train_share)?;
    let (target, _) = train_mlp(split.train.x.view(), &split.train.y, &TrainOptions { seed: mix(cfg.seed, cfg.target.seed), ..cfg.target.clone() })?;
    progress.advance(1);
    let (evaluator, _) = train_mlp(split.train.x.view(), &split.train.y, &TrainOptions { seed: mix(cfg.seed, cfg.evaluator.seed), ..cfg.evaluator.clone() })?;
    progress.advance(1);
    let target_accuracy = crate::train::accuracy(&target, split.test.x.view(), &split.test.y);
    let evaluator_accuracy = crate::train::accuracy(&evaluator, split.test.x.view(), &split.test.y);
    let prior = match cfg.prior {
        PriorKind::Pca => Prior::fit_pca(split.public.x.view(), cfg.pca_components)?,
        PriorKind::Identity => Prior::Identity { dim: all.x.ncols() },
    };
    let spread = match &prior {
        // whitened: unit variance per latent coordinate
        Prior::Pca { basis, .. } => (basis.ncols() as f64).sqrt(),
        Prior::Identity { .. } => {
            let mean = split.public.x.mean_axis(Axis(0)).expect("rows");
            let var: f64 = (&split.public.x - &mean.insert_axis(Axis(0))).mapv(|v| v * v).sum() / (split.public.len() - 1) as f64;
            var.sqrt()
        }
    };
    let brep = scaled(&cfg.brep, spread);
    brep.validate()?;
    progress.advance(1);
    phases.push(("data, models and prior".to_string(), t.elapsed().as_secs_f64()));

    // every oracle's accuracy on the held-out split
    let t = Instant::now();
    let settings = settings(cfg);
    progress.phase("oracles' accuracy", settings.len() as u64);
    let accuracies: Vec<(f64, usize)> = settings
        .iter()
        .enumerate()
        .map(|(s, setting)| {
            let oracle = setting.oracle(&target, mix(cfg.seed, 1 << 40 | s as u64))?;
            let a = accuracy(oracle.as_ref(), split.test.x.view(), &split.test.y);
            progress.advance(1);
            a
        })
        .collect::<Result<_>>()?;
    phases.push(("oracles' accuracy".to_string(), t.elapsed().as_secs_f64()));

    // the attacks: every (setting, target, restart), each with its own oracle and seed
    let t = Instant::now();
    let tasks: Vec<(usize, usize, usize)> = (0..settings.len()).flat_map(|s| (0..CLASSES).flat_map(move |c| (0..cfg.restarts).map(move |r| (s, c, r)))).collect();
    progress.phase("attacks", tasks.len() as u64);
    let mut runs: Vec<RunRecord> = tasks
        .par_iter()
        .map(|&(s, c, r)| {
            let seed = mix(cfg.seed, ((s as u64) << 32) | ((c as u64) << 16) | r as u64);
            let oracle = settings[s].oracle(&target, mix(seed, 7))?;
            let start = Instant::now();
            let run = attack(oracle.as_ref(), &prior, &evaluator, c, &brep, seed)?;
            progress.advance(1);
            Ok(RunRecord { setting: s, restart: r, run, seconds: start.elapsed().as_secs_f64(), smoothed_radius: None, crown_radius: None })
        })
        .collect::<Result<_>>()?;
    let attack_seconds = t.elapsed().as_secs_f64();
    phases.push(("attacks".to_string(), attack_seconds));

    // beyond the paper: the guarantees at each reconstruction
    let t = Instant::now();
    progress.phase("radii at the reconstructions", settings.len() as u64);
    certify_reconstructions(cfg, &settings, &target, &mut runs)?;
    progress.advance(settings.len() as u64);
    phases.push(("radii at the reconstructions".to_string(), t.elapsed().as_secs_f64()));

    let summaries = settings
        .iter()
        .enumerate()
        .map(|(s, setting)| {
            let mine: Vec<&RunRecord> = runs.iter().filter(|r| r.setting == s).collect();
            let n = mine.len() as u64;
            let k = mine.iter().filter(|r| r.run.success).count() as u64;
            let asr_ci = (crate::smooth::stats::clopper_pearson_lower(k, n, 0.025), crate::smooth::stats::clopper_pearson_upper(k, n, 0.025));
            Summary {
                setting: *setting,
                name: setting.name(),
                runs: mine.len(),
                started: mine.iter().filter(|r| r.run.started).count(),
                successes: k as usize,
                asr: k as f64 / n.max(1) as f64,
                asr_ci,
                accuracy: accuracies[s].0,
                abstained: accuracies[s].1,
                queries: mine.iter().map(|r| r.run.queries).sum(),
                seconds: mine.iter().map(|r| r.seconds).sum(),
                median_growths: median(mine.iter().map(|r| r.run.growths as f64).collect()).unwrap_or(0.0),
                median_smoothed_radius: median(mine.iter().filter_map(|r| r.smoothed_radius).collect()),
                median_crown_radius: median(mine.iter().filter_map(|r| r.crown_radius).collect()),
            }
        })
        .collect();
    Ok(Outcome { config: cfg.clone(), brep, split, target, evaluator, target_accuracy, evaluator_accuracy, prior, settings: summaries, runs, phases })
}

/// Fills each run's radii at its reconstruction: CROWN's certified ℓ2 radius of the base network, and
/// (smoothed settings) the smoothed target's CERTIFY radius at the setting's σ (0 for an abstention).
fn certify_reconstructions(cfg: &Config, settings: &[Setting], target: &Network, runs: &mut [RunRecord]) -> Result<()> {
    let with: Vec<usize> = (0..runs.len()).filter(|&i| runs[i].run.reconstruction.is_some()).collect();
    if with.is_empty() {
        return Ok(());
    }
    let x = Array2::from_shape_fn((with.len(), target.input_dim()), |(r, j)| runs[with[r]].run.reconstruction.as_ref().expect("filtered")[j]);
    let ids: Vec<usize> = (0..with.len()).collect();
    let crown = BoundCertifier { net: target.clone(), method: BoundMethod::crown(), norm: Norm::L2, decision: Decision::Argmax, domain: None, search: RadiusSearch::default() };
    let certs = crate::cert::Certifier::certify(&crown, Batch { inputs: x.view(), row_ids: &ids }, &crate::progress::NoProgress)?;
    for (r, c) in certs.iter().enumerate() {
        runs[with[r]].crown_radius = Some(c.radius_value());
    }
    for (s, setting) in settings.iter().enumerate() {
        let Setting::Smoothed { sigma, .. } = *setting else { continue };
        let rows: Vec<usize> = (0..with.len()).filter(|&r| runs[with[r]].setting == s).collect();
        if rows.is_empty() {
            continue;
        }
        let xs = x.select(Axis(0), &rows);
        let (n0, n, alpha) = cfg.certify;
        let cert = SmoothingCertifier { net: target.clone(), decision: Decision::Argmax, options: SmoothOptions { sigma, n0, n, alpha, mode: SmoothMode::Certify, seed: mix(cfg.seed, 3 << 40 | s as u64), ..Default::default() } };
        let ids: Vec<usize> = (0..rows.len()).collect();
        let out = crate::cert::Certifier::certify(&cert, Batch { inputs: xs.view(), row_ids: &ids }, &crate::progress::NoProgress)?;
        for (k, c) in out.iter().enumerate() {
            runs[with[rows[k]]].smoothed_radius = Some(c.radius_value());
        }
    }
    Ok(())
}

/// Queries per second over the attacks (every oracle query, start searches included).
pub fn queries_per_second(o: &Outcome) -> f64 {
    let q: u64 = o.runs.iter().map(|r| r.run.queries).sum();
    let s = o.phases.iter().find(|p| p.0 == "attacks").map_or(0.0, |p| p.1);
    if s > 0.0 {
        q as f64 / s
    } else {
        0.0
    }
}

/// The reconstruction of each (target, restart) of a setting, row-major by target (None: no start or
/// never grew).
pub fn grid_images(o: &Outcome, setting: usize) -> Vec<Vec<Option<(Array1<f64>, bool)>>> {
    let mut grid = vec![vec![None; o.config.restarts]; CLASSES];
    for r in o.runs.iter().filter(|r| r.setting == setting) {
        grid[r.run.target][r.restart] = r.run.reconstruction.clone().map(|x| (x, r.run.success));
    }
    grid
}
