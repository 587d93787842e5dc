//! The certified-radius search (RADIUS-1 in `proofs/RADIUS.md`): grow ε geometrically until the check
//! fails, then bisect to a relative tolerance. The reported radius is always an ε at which the check
//! itself succeeded (the certified end of the bracket), so soundness never rests on monotonicity.
use serde::{Deserialize, Serialize};

/// Options of the radius search.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RadiusSearch {
    /// Stop when (hi − lo) ≤ rel_tol · hi.
    pub rel_tol: f64,
    /// First ε tried.
    pub eps_start: f64,
    /// Largest ε tried; a row certified there reports eps_max.
    pub eps_max: f64,
    /// Radii below this are reported as 0.
    pub eps_min: f64,
}

impl Default for RadiusSearch {
    fn default() -> Self {
        RadiusSearch { rel_tol: 1e-4, eps_start: 0.1, eps_max: 1e6, eps_min: 1e-9 }
    }
}

/// Outcome of one row's search.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SearchResult {
    /// Largest ε at which the check succeeded (0 if none).
    pub certified: f64,
    /// Smallest ε at which it failed (None if it never failed up to eps_max).
    pub failed: Option<f64>,
    /// Number of checks run.
    pub checks: usize,
}

impl RadiusSearch {
    /// Checks the options.
    pub fn validate(&self) -> crate::Result<()> {
        let bad = |m: String| Err(crate::Error::Option(m));
        if !(self.rel_tol > 0.0 && self.rel_tol < 1.0) {
            return bad(format!("--rel-tol must lie in (0, 1), got {}", self.rel_tol));
        }
        if !(self.eps_max.is_finite() && self.eps_max > 0.0) {
            return bad(format!("--eps-max must be a finite number > 0, got {}", self.eps_max));
        }
        if !(self.eps_start > 0.0 && self.eps_start <= self.eps_max) {
            return bad(format!("--eps-start must lie in (0, --eps-max = {}], got {}", self.eps_max, self.eps_start));
        }
        if !(self.eps_min > 0.0 && self.eps_min <= self.eps_start) {
            return bad(format!("the smallest ε tried ({}) must lie in (0, --eps-start = {}]; raise --eps-start", self.eps_min, self.eps_start));
        }
        Ok(())
    }


    /// A fresh search, whose first check is at `eps_start`.
    pub fn start(&self) -> SearchState {
        SearchState { lo: 0.0, hi: None, eps: self.eps_start, checks: 0, done: false }
    }

    /// Records the outcome of the check at `state.eps` and picks the next ε (or finishes).
    pub fn step(&self, state: &mut SearchState, certified: bool) {
        state.checks += 1;
        let eps = state.eps;
        if certified {
            state.lo = eps;
            match state.hi {
                None if eps >= self.eps_max => state.done = true,
                None => state.eps = (2.0 * eps).min(self.eps_max),
                Some(h) => state.eps = 0.5 * (eps + h),
            }
        } else {
            state.hi = Some(eps);
            if state.lo == 0.0 && eps < self.eps_min {
                state.done = true;
            }
            state.eps = 0.5 * (state.lo + eps);
        }
        if let Some(h) = state.hi {
            if state.lo > 0.0 && h - state.lo <= self.rel_tol * h {
                state.done = true;
            }
        }
    }

    /// Runs the search with `certified_at(ε)`, a sound check that the ε-ball keeps the answer.
    pub fn run(&self, mut certified_at: impl FnMut(f64) -> bool) -> SearchResult {
        let mut st = self.start();
        while !st.done {
            let ok = certified_at(st.eps);
            self.step(&mut st, ok);
        }
        st.result()
    }
}

/// The bracket of one row's search: `lo` was certified (or is 0), `hi` failed; `eps` is checked next.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SearchState {
    pub lo: f64,
    pub hi: Option<f64>,
    pub eps: f64,
    pub checks: usize,
    pub done: bool,
}

impl SearchState {
    /// The outcome so far.
    pub fn result(&self) -> SearchResult {
        SearchResult { certified: self.lo, failed: self.hi, checks: self.checks }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_threshold_from_below() {
        let s = RadiusSearch::default();
        let r = s.run(|e| e <= 0.3172);
        assert!(r.certified <= 0.3172 && r.certified >= 0.3172 * (1.0 - 1e-4));
        assert!(r.failed.unwrap() > 0.3172);
    }

    #[test]
    fn reports_zero_when_nothing_certifies_and_caps_at_max() {
        let s = RadiusSearch::default();
        assert_eq!(s.run(|_| false).certified, 0.0);
        assert_eq!(s.run(|_| true).certified, s.eps_max);
        assert!(s.run(|e| e < 1e-6).certified > 0.0);
    }

    #[test]
    fn reported_radius_is_a_certified_point_even_for_a_non_monotone_check() {
        // certified on [0, 0.2] and on [0.5, 0.6] only: the search must report a point that was checked
        let s = RadiusSearch::default();
        let mut seen = Vec::new();
        let check = |e: f64| e <= 0.2 || (0.5..=0.6).contains(&e);
        let r = s.run(|e| {
            seen.push((e, check(e)));
            check(e)
        });
        assert!(check(r.certified));
        assert!(seen.iter().any(|&(e, ok)| ok && e == r.certified));
    }
}
