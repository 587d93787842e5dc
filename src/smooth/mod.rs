//! Randomized smoothing (Cohen, Rosenfeld & Kolter 2019) behind the `Certifier` trait.
//!
//! The smoothed classifier is g(x) = argmax_c P(f(x + ε) = c), ε ~ N(0, σ²I) in model-input space.
//! Guarantees (`proofs/SMOOTHING.md`):
//! - CERTIFY (SMOOTH-1): with probability ≥ 1 − α over the noise, a returned class c with radius R
//!   satisfies g(x′) = c for every ‖x′ − x‖₂ < R; otherwise it abstains.
//! - PREDICT (SMOOTH-4): with probability ≥ 1 − α, a returned class equals g(x); otherwise it abstains.
//! - Always-label: the plain majority over n draws; no guarantee (for attack experiments).
pub mod line;
pub mod narrow;
pub mod normals;
pub mod sampler;
pub mod stats;

use crate::cert::{Answer, Batch, Certificate, Certifier, Extent, Outcome, Radius};
use crate::net::Network;
use crate::progress::Progress;
use crate::spec::{Decision, Norm};
use sampler::{Eval, NoiseSpace, NoisyRecord, Phase, Sampler};
use serde::{Deserialize, Serialize};
use stats::{binomial_test_half, clopper_pearson_lower, clopper_pearson_upper, cohen_radius, min_samples_to_certify, min_samples_to_predict, two_class_radius};
use std::time::Instant;

/// What the smoothed classifier is asked.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum SmoothMode {
    /// Cohen's CERTIFY: a class and an ℓ2 radius, or abstain.
    #[default]
    Certify,
    /// Cohen's PREDICT: a class (two-sided binomial test of the top two counts), or abstain.
    Predict,
    /// Plain majority vote over n draws, never abstaining (ties to the lowest class).
    AlwaysLabel,
}

/// How CERTIFY turns counts into a radius.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum RadiusRule {
    /// R = σ·Φ⁻¹(p̲_A) with p̲_A at level α (Cohen's Theorem 1 with p̄_B = 1 − p̲_A).
    #[default]
    Cohen,
    /// The paper's Eq. 1: R = σ/2·(Φ⁻¹(p̲_A) − Φ⁻¹(p̄_B)), p̲_A at α/2 and p̄_B bounding every other class
    /// at α/(2(K−1)) each (union bound), capped by 1 − p̲_A.
    TwoClass,
}

/// Options of the smoothing certifier.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmoothOptions {
    /// Noise standard deviation in model-input units.
    pub sigma: f64,
    /// Selection samples (CERTIFY).
    pub n0: u64,
    /// Estimation samples (all modes).
    pub n: u64,
    /// Failure probability.
    pub alpha: f64,
    pub mode: SmoothMode,
    pub radius: RadiusRule,
    /// Seed of the counter-based noise.
    pub seed: u64,
    /// Where the noise is drawn (the same distribution either way; it changes which numbers a seed gives).
    pub noise_space: NoiseSpace,
    /// The arithmetic of the base classifier: the guarantees are about f evaluated in it.
    #[serde(default)]
    pub eval: Eval,
}

impl Default for SmoothOptions {
    /// Cohen's defaults: n₀ = 100, n = 100 000, α = 0.001 (σ must be chosen).
    fn default() -> Self {
        SmoothOptions {
            sigma: 0.25,
            n0: 100,
            n: 100_000,
            alpha: 0.001,
            mode: SmoothMode::Certify,
            radius: RadiusRule::Cohen,
            seed: 0,
            noise_space: NoiseSpace::Auto,
            eval: Eval::F64,
        }
    }
}

impl SmoothOptions {
    /// The certificate's outcome for a decided answer and radius: probabilistic at α (certify,
    /// predict), no certificate (always-label), or an abstention (which carries no radius).
    pub fn outcome(&self, answer: Answer, radius: f64) -> Outcome {
        match answer {
            Answer::Abstain => Outcome::Abstain,
            Answer::Class(class) => Outcome::Answer {
                class,
                radius: match self.mode {
                    SmoothMode::Certify | SmoothMode::Predict => Radius::Probabilistic { radius, alpha: self.alpha },
                    SmoothMode::AlwaysLabel => Radius::Uncertified,
                },
            },
        }
    }

    /// Rejects options that are invalid or can never produce an answer, naming the fix.
    pub fn validate(&self) -> crate::Result<()> {
        let err = |m: String| Err(crate::Error::Option(m));
        if !(self.sigma > 0.0 && self.sigma.is_finite()) {
            return err(format!("--sigma must be a finite number > 0, got {}", self.sigma));
        }
        if !(self.alpha > 0.0 && self.alpha < 1.0) {
            return err(format!("--alpha must lie in (0, 1), got {}", self.alpha));
        }
        if self.n == 0 {
            return err("--n must be at least 1".into());
        }
        crate::limits::check_samples("--n", self.n)?;
        crate::limits::check_samples("--n0", self.n0)?;
        match self.mode {
            SmoothMode::Certify => {
                if self.n0 == 0 {
                    return err("--n0 must be at least 1 for certify".into());
                }
                let level = match self.radius {
                    RadiusRule::Cohen => self.alpha,
                    RadiusRule::TwoClass => self.alpha / 2.0,
                };
                let need = min_samples_to_certify(level);
                if self.n < need {
                    return err(format!(
                        "--n {} can never certify at alpha = {} (even {} of {} correct draws give a lower bound below ½); use --n {need} or more",
                        self.n, self.alpha, self.n, self.n
                    ));
                }
            }
            SmoothMode::Predict => {
                let need = min_samples_to_predict(self.alpha);
                if self.n < need {
                    return err(format!("--n {} can never pass the binomial test at alpha = {}; use --n {need} or more", self.n, self.alpha));
                }
            }
            SmoothMode::AlwaysLabel => {}
        }
        Ok(())
    }
}

/// What one record's smoothing run found (beyond the certificate).
#[derive(Clone, Debug, PartialEq)]
pub struct SmoothDetail {
    /// Class counts of the estimation (or only) draws.
    pub counts: Vec<u64>,
    /// The probability bound used: p̲_A (certify) or the test's p-value (predict).
    pub statistic: f64,
}

/// The randomized-smoothing certifier.
pub struct SmoothingCertifier {
    pub net: Network,
    pub decision: Decision,
    pub options: SmoothOptions,
}

impl SmoothingCertifier {
    /// Certificates and details of every record of the batch.
    pub fn run(&self, batch: Batch<'_>, progress: &dyn Progress) -> crate::Result<Vec<(Certificate, SmoothDetail)>> {
        let o = &self.options;
        o.validate()?;
        batch.check_width(self.net.input_dim())?;
        batch.answers(&self.net, self.decision)?; // the noiseless outputs: finite, and a classifier's
        let sampler = Sampler::new(&self.net, o.sigma, o.seed, self.decision, o.noise_space)?.evaluated_in(o.eval);
        // Records in groups, so that progress moves and memory stays bounded; each record's draws
        // depend only on (seed, row, phase, sample).
        let mut out = Vec::with_capacity(batch.inputs.nrows());
        for group in (0..batch.inputs.nrows()).collect::<Vec<_>>().chunks(64) {
            let start = Instant::now();
            let recs: Vec<NoisyRecord> =
                group.iter().map(|&i| NoisyRecord { x: batch.inputs.row(i), row: batch.row_ids[i] as u64 }).collect();
            let selection = match o.mode {
                SmoothMode::Certify => Some(sampler.counts(&recs, Phase::Selection, o.n0)?),
                SmoothMode::Predict | SmoothMode::AlwaysLabel => None,
            };
            let estimation = sampler.counts(&recs, Phase::Estimation, o.n)?;
            let share = start.elapsed() / group.len() as u32;
            for (j, &i) in group.iter().enumerate() {
                let (answer, radius, statistic) = self.decide(selection.as_ref().map(|s| &s[j][..]), &estimation[j]);
                let cert = Certificate { row: batch.row_ids[i], outcome: o.outcome(answer, radius), extent: Extent::Ball(Norm::L2), time: share };
                out.push((cert, SmoothDetail { counts: estimation[j].clone(), statistic }));
            }
            progress.advance(group.len() as u64);
        }
        Ok(out)
    }

    /// The answer, radius and statistic from the counts (SMOOTH-1, SMOOTH-4): `selection` are the n₀
    /// selection counts (certify only), `counts` the n estimation counts.
    pub fn decide(&self, selection: Option<&[u64]>, counts: &[u64]) -> (Answer, f64, f64) {
        let o = &self.options;
        self.decide_with(selection, counts, |k, a| clopper_pearson_lower(k, o.n, a), |k, a| clopper_pearson_upper(k, o.n, a))
    }

    /// A decision rule with every Clopper–Pearson bound it can need precomputed (one per count 0…n),
    /// for deciding millions of count vectors (`rp reproduce ape`); it answers exactly as [`Self::decide`].
    pub fn decider(&self) -> crate::Result<Decider<'_>> {
        let o = &self.options;
        crate::limits::check_memory("--n (a table of one bound per count)", 16.0 * (o.n as f64 + 1.0), "use a smaller --n")?;
        let (lower_level, upper_level) = match o.radius {
            RadiusRule::Cohen => (o.alpha, o.alpha),
            RadiusRule::TwoClass => {
                let k = self.net.output_dim().max(2);
                (o.alpha / 2.0, o.alpha / (2.0 * (k - 1) as f64))
            }
        };
        let lower = (0..=o.n).map(|k| clopper_pearson_lower(k, o.n, lower_level)).collect();
        let upper = match o.radius {
            RadiusRule::Cohen => Vec::new(),
            RadiusRule::TwoClass => (0..=o.n).map(|k| clopper_pearson_upper(k, o.n, upper_level)).collect(),
        };
        Ok(Decider { certifier: self, lower, upper })
    }

    /// The total-variation distance between the implemented noise of one sample and N(0, σ²I) (SMOOTH-8):
    /// m·TV_PER_NORMAL for the m normals a sample draws (m ≤ the widest layer boundary in first-layer
    /// space, d in input space). Probabilities under the two laws differ by at most this much.
    pub fn noise_tv(&self) -> f64 {
        let dims = self.net.boundary_dims().unwrap_or_default();
        let m = match self.options.noise_space {
            NoiseSpace::Input => self.net.input_dim(),
            NoiseSpace::FirstLayer | NoiseSpace::Auto => dims.iter().copied().max().unwrap_or(0),
        };
        m as f64 * normals::TV_PER_NORMAL
    }

    fn decide_with(&self, selection: Option<&[u64]>, counts: &[u64], lower: impl Fn(u64, f64) -> f64, upper: impl Fn(u64, f64) -> f64) -> (Answer, f64, f64) {
        let o = &self.options;
        let top = |c: &[u64]| (0..c.len()).fold(0, |b, i| if c[i] > c[b] { i } else { b });
        match o.mode {
            SmoothMode::AlwaysLabel => (Answer::Class(top(counts)), 0.0, f64::NAN),
            SmoothMode::Predict => {
                let a = top(counts);
                let b = (0..counts.len()).filter(|&i| i != a).fold(None, |best: Option<usize>, i| match best {
                    Some(j) if counts[j] >= counts[i] => Some(j),
                    _ => Some(i),
                });
                let (na, nb) = (counts[a], b.map_or(0, |b| counts[b]));
                let p = binomial_test_half(na, na + nb);
                if p > o.alpha {
                    (Answer::Abstain, 0.0, p)
                } else {
                    (Answer::Class(a), 0.0, p)
                }
            }
            SmoothMode::Certify => {
                // SMOOTH-8: the counts estimate probabilities under the implemented noise, within `tv` of
                // those under N(0, σ²I); the bounds are widened by it
                let tv = self.noise_tv();
                let lower = |k, a| (lower(k, a) - tv).max(0.0);
                let upper = |k, a| (upper(k, a) + tv).min(1.0);
                let c = top(selection.expect("selection counts in certify mode"));
                let na = counts[c];
                match o.radius {
                    RadiusRule::Cohen => {
                        let pa = lower(na, o.alpha);
                        if pa < 0.5 {
                            (Answer::Abstain, 0.0, pa)
                        } else {
                            (Answer::Class(c), cohen_radius(o.sigma, pa), pa)
                        }
                    }
                    RadiusRule::TwoClass => {
                        let k = counts.len().max(2);
                        let pa = lower(na, o.alpha / 2.0);
                        let per_class = o.alpha / (2.0 * (k - 1) as f64);
                        let pb = (0..counts.len())
                            .filter(|&i| i != c)
                            .map(|i| upper(counts[i], per_class))
                            .fold(0.0f64, f64::max)
                            .min(1.0 - pa);
                        if pa <= pb {
                            (Answer::Abstain, 0.0, pa)
                        } else {
                            (Answer::Class(c), two_class_radius(o.sigma, pa, pb), pa)
                        }
                    }
                }
            }
        }
    }
}

/// [`SmoothingCertifier::decide`] with precomputed bounds (certify mode; other modes pass through).
pub struct Decider<'a> {
    certifier: &'a SmoothingCertifier,
    lower: Vec<f64>,
    upper: Vec<f64>,
}

impl Decider<'_> {
    /// The same answer, radius and statistic as `SmoothingCertifier::decide`.
    pub fn decide(&self, selection: Option<&[u64]>, counts: &[u64]) -> (Answer, f64, f64) {
        self.certifier.decide_with(selection, counts, |k, _| self.lower[k as usize], |k, _| self.upper[k as usize])
    }
}

impl Certifier for SmoothingCertifier {
    fn method(&self) -> &'static str {
        "smooth"
    }

    fn extent(&self) -> Extent {
        Extent::Ball(Norm::L2)
    }

    fn certify(&self, batch: Batch<'_>, progress: &dyn Progress) -> crate::Result<Vec<Certificate>> {
        Ok(self.run(batch, progress)?.into_iter().map(|(c, _)| c).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The precomputed decider answers exactly as `decide` for every count, for both radius rules.
    #[test]
    fn decider_equals_decide() {
        let net = crate::net::init::seeded_mlp(&[2, 3, 3], 1);
        for radius in [RadiusRule::Cohen, RadiusRule::TwoClass] {
            let c = SmoothingCertifier { net: net.clone(), decision: Decision::Argmax, options: SmoothOptions { n: 200, alpha: 0.05, radius, ..Default::default() } };
            let d = c.decider().unwrap();
            for k in 0..=200u64 {
                let counts = [k, (200 - k) / 3, 200 - k - (200 - k) / 3];
                let sel = [10, 5, 1];
                let (a, b) = (c.decide(Some(&sel), &counts), d.decide(Some(&sel), &counts));
                assert_eq!((a.0, a.1.to_bits()), (b.0, b.1.to_bits()), "k = {k}");
            }
        }
    }
}
