//! Label-only oracles: what a model-inversion attacker may ask. One seam for the base network and the
//! smoothed classifier (always-label: the paper's protocol; PREDICT, whose abstentions the attacker
//! reads as "not the target"); every query is counted.
use crate::net::Network;
use crate::smooth::sampler::{NoiseSpace, NoisyRecord, Phase, Sampler};
use crate::smooth::{SmoothMode, SmoothOptions, SmoothingCertifier};
use crate::spec::Decision;
use crate::Result;
use ndarray::ArrayView2;
use std::sync::atomic::{AtomicU64, Ordering};

/// An oracle's answer to one query: a class, or an abstention.
pub type Label = Option<usize>;

/// Answers label queries about images (rows of model inputs), counting them.
pub trait Oracle: Sync {
    /// One label per row; every row counts as one query.
    fn labels(&self, x: ArrayView2<f64>) -> Result<Vec<Label>>;
    /// Queries answered so far.
    fn queries(&self) -> u64;
}

/// The base network: its argmax (ties to the lowest class).
pub struct Base<'a> {
    pub net: &'a Network,
    count: AtomicU64,
}

impl<'a> Base<'a> {
    pub fn new(net: &'a Network) -> Self {
        Base { net, count: AtomicU64::new(0) }
    }
}

impl Oracle for Base<'_> {
    fn labels(&self, x: ArrayView2<f64>) -> Result<Vec<Label>> {
        self.count.fetch_add(x.nrows() as u64, Ordering::Relaxed);
        let out = self.net.forward_batch(x);
        Ok(out.outer_iter().map(|o| Some(crate::net::argmax(o).0)).collect())
    }

    fn queries(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }
}

/// How the smoothed classifier answers.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub enum Vote {
    /// The majority of n noisy labels, never abstaining (`--mode always-label`): the paper's protocol.
    Majority,
    /// Cohen's PREDICT at level α (`--mode predict`): abstains unless the top class is significant.
    Predict { alpha: f64 },
}

/// The smoothed classifier g(x) = argmax_c P(f(x + ε) = c), ε ~ N(0, σ²I), answered from n fresh
/// draws per query: query q (counted from 0 in this oracle) draws the noise of record q of the
/// project's scheme (SMOOTH-3) under `seed`, so an attack run's answers are reproducible and no two
/// queries share noise.
pub struct Smoothed<'a> {
    sampler: Sampler<'a>,
    decider: SmoothingCertifier,
    n: u64,
    count: AtomicU64,
}

impl<'a> Smoothed<'a> {
    pub fn new(net: &'a Network, sigma: f64, n: u64, vote: Vote, seed: u64) -> Result<Self> {
        let (mode, alpha) = match vote {
            Vote::Majority => (SmoothMode::AlwaysLabel, 0.001),
            Vote::Predict { alpha } => (SmoothMode::Predict, alpha),
        };
        let options = SmoothOptions { sigma, n0: 0, n, alpha, mode, seed, noise_space: NoiseSpace::Input, ..Default::default() };
        options.validate()?;
        let sampler = Sampler::new(net, sigma, seed, Decision::Argmax, NoiseSpace::Input)?;
        Ok(Smoothed { sampler, decider: SmoothingCertifier { net: net.clone(), decision: Decision::Argmax, options }, n, count: AtomicU64::new(0) })
    }
}

impl Oracle for Smoothed<'_> {
    fn labels(&self, x: ArrayView2<f64>) -> Result<Vec<Label>> {
        let first = self.count.fetch_add(x.nrows() as u64, Ordering::Relaxed);
        let records: Vec<NoisyRecord> = x.outer_iter().enumerate().map(|(i, r)| NoisyRecord { x: r, row: first + i as u64 }).collect();
        let counts = self.sampler.counts(&records, Phase::Estimation, self.n)?;
        Ok(counts
            .iter()
            .map(|c| match self.decider.decide(None, c).0 {
                crate::cert::Answer::Class(k) => Some(k),
                crate::cert::Answer::Abstain => None,
            })
            .collect())
    }

    fn queries(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }
}

/// The share of rows an oracle labels with their class (abstentions count as wrong), and the number
/// of abstentions.
pub fn accuracy(oracle: &dyn Oracle, x: ArrayView2<f64>, y: &[usize]) -> Result<(f64, usize)> {
    let labels = oracle.labels(x)?;
    let hits = labels.iter().zip(y).filter(|(l, &c)| **l == Some(c)).count();
    let abstained = labels.iter().filter(|l| l.is_none()).count();
    Ok((hits as f64 / y.len().max(1) as f64, abstained))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oracles_count_queries_and_smoothing_is_reproducible() {
        let net = crate::net::init::seeded_mlp(&[4, 8, 3], 1);
        let x = ndarray::Array2::from_shape_fn((5, 4), |(i, j)| (i as f64 - 2.0) * 0.3 + j as f64 * 0.1);
        let base = Base::new(&net);
        assert_eq!(base.labels(x.view()).unwrap().len(), 5);
        assert_eq!(base.queries(), 5);
        let a = Smoothed::new(&net, 0.5, 50, Vote::Majority, 7).unwrap();
        let b = Smoothed::new(&net, 0.5, 50, Vote::Majority, 7).unwrap();
        assert_eq!(a.labels(x.view()).unwrap(), b.labels(x.view()).unwrap());
        assert_eq!(a.queries(), 5);
        // fresh noise per query: the same image asked twice is two records
        let _ = a.labels(x.view()).unwrap();
        assert_eq!(a.queries(), 10);
        // predict on a huge σ abstains (the votes split), and refuses an n that can never pass its test
        assert!(Smoothed::new(&net, 1.0, 20, Vote::Predict { alpha: 1e-9 }, 7).is_err());
        let half = crate::net::Network::new(vec![4], vec![crate::net::Layer::Affine(crate::net::Affine::new(ndarray::array![[1.0, 0.0, 0.0, 0.0], [-1.0, 0.0, 0.0, 0.0]], ndarray::array![0.0, 0.0]))]).unwrap();
        let p = Smoothed::new(&half, 100.0, 20, Vote::Predict { alpha: 1e-3 }, 7).unwrap();
        assert!(p.labels(x.view()).unwrap().iter().all(|l| l.is_none()));
        assert!(Smoothed::new(&net, -1.0, 20, Vote::Majority, 7).is_err());
    }
}
