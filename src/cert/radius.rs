//! The certified-radius search (RADIUS-1 in `proofs/RADIUS.md`): grow ε until the check fails, then
//! narrow the bracket to a relative tolerance. With the check's margin (the least proven lower bound of
//! the answer's margins over the ε-ball: certified iff > 0) the search is a safeguarded root finder on
//! it (RADIUS-2) — secant extrapolation while growing, Illinois / Anderson–Björck regula falsi inside
//! the bracket, a step of at least half the tolerance, and bisection where the bound falls off a cliff
//! or two steps did not halve the bracket (Brent's safeguard); with a yes/no check it doubles and
//! bisects. The reported radius is always an ε at which the check itself succeeded (the
//! certified end of the bracket) or the floor a failed check's own bounds proved (RADIUS-4), so
//! soundness never rests on monotonicity or on the root finder. Each row may start from its
//! estimated radius or its linearized boundary distance (RADIUS-3).
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
    /// Where a row's search starts (RADIUS-3): from its estimated radius, from its linearized boundary
    /// distance, or at `eps_start`.
    #[serde(default)]
    pub start: SearchStart,
}

/// Where each row's radius search makes its first check. Either way the reported radius is a checked,
/// certified ε (RADIUS-1): the start only steers how many checks it takes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SearchStart {
    /// Just below the row's estimated radius (`cert::estimate`: CROWN's radius for the network
    /// linearized at x₀), then just above it, [`PROBE`] · `rel_tol` away on each side: two checks when
    /// the estimate is right (as on one hidden layer); past a failed first check the search bisects
    /// towards 0 (the estimate is usually above the radius). As `Linearized` where the certifier has no
    /// estimate (`cert::estimate::affordable` is false, a zero margin) or its probes would leave
    /// [eps_min, eps_max].
    #[default]
    Estimated,
    /// At [`LINEAR_START`] times the distance from x₀ to the answer's decision boundary of the network
    /// linearized at x₀ (the least margin over the dual norm of its input gradient); at `eps_start`
    /// where that distance is not a positive number (a margin of 0, a vanishing gradient).
    Linearized,
    /// At `eps_start` for every row.
    Fixed,
}

/// How far below and then above an estimated radius the first two checks go, in units of `rel_tol`
/// (RADIUS-3): the two bracket the radius within 0.8 · `rel_tol` when the estimate is within
/// 0.4 · `rel_tol` of it.
pub const PROBE: f64 = 0.4;

/// The linearized start's share of the linearized boundary distance. Past the first check CROWN's bound
/// leaves the linearization as neurons turn unstable, so its radius lies below that distance; on the
/// demo MLP the median ratio is ≈ 0.66, and ⅔ saves about one check per row there and on ACAS Xu.
/// Any positive value is sound (it only picks the first ε).
pub const LINEAR_START: f64 = 2.0 / 3.0;

impl Default for RadiusSearch {
    fn default() -> Self {
        RadiusSearch { rel_tol: 1e-4, eps_start: 0.1, eps_max: 1e6, eps_min: 1e-9, start: SearchStart::Estimated }
    }
}

/// Outcome of one row's search.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SearchResult {
    /// Largest ε proven certified: at which the check succeeded, or a failed check's floor (RADIUS-4);
    /// 0 if none.
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
        self.start_at(f64::NAN)
    }

    /// A fresh search that knows the answer's margin at ε = 0 (the network's own margin at x₀), from
    /// which its first growth can extrapolate.
    pub fn start_at(&self, margin0: f64) -> SearchState {
        self.start_guessed(margin0, f64::NAN, f64::NAN)
    }

    /// As [`start_at`](Self::start_at), with the row's linearized boundary distance `linear` and its
    /// estimated radius `estimate` (NaN when unknown). Under [`SearchStart::Estimated`] the first check
    /// is at (1 − [`PROBE`] · rel_tol) · `estimate` where that is a positive number and both probes lie
    /// within [eps_min, eps_max]; else, and under
    /// [`SearchStart::Linearized`], at [`LINEAR_START`] · `linear` where that is a positive number; else
    /// at `eps_start`. The first ε is kept within [eps_min, eps_max].
    pub fn start_guessed(&self, margin0: f64, linear: f64, estimate: f64) -> SearchState {
        let usable = |v: f64| v.is_finite() && v > 0.0;
        // an estimate whose probes would leave [eps_min, eps_max] is not used
        let probes = ((1.0 - PROBE * self.rel_tol) * estimate, (1.0 + PROBE * self.rel_tol) * estimate);
        let estimated = self.start == SearchStart::Estimated && usable(estimate) && probes.0 >= self.eps_min && probes.1 <= self.eps_max;
        let eps = if estimated {
            probes.0
        } else if self.start != SearchStart::Fixed && usable(LINEAR_START * linear) {
            LINEAR_START * linear
        } else {
            self.eps_start
        };
        SearchState {
            lo: 0.0,
            hi: None,
            eps: eps.clamp(self.eps_min, self.eps_max),
            checks: 0,
            done: false,
            lo_margin: margin0,
            hi_margin: f64::NAN,
            prev: None,
            weights: (1.0, 1.0),
            last: Side::None,
            width_before_last: f64::INFINITY,
            bisect: false,
            floor: 0.0,
            estimate: if estimated { estimate } else { f64::NAN },
            prev_hi: None,
        }
    }

    /// Records a yes/no check at `state.eps` and picks the next ε (or finishes): doubling, then
    /// bisection.
    pub fn step(&self, state: &mut SearchState, certified: bool) {
        self.record(state, certified, f64::NAN, 0.0);
    }

    /// Records the check's margin at `state.eps` (certified iff `margin` > 0; NaN is not) and picks the
    /// next ε by the safeguarded root finder.
    pub fn step_margin(&self, state: &mut SearchState, margin: f64) {
        self.record(state, margin > 0.0, margin, 0.0);
    }

    /// As [`step_margin`](Self::step_margin), where a failed check also proved every ε ≤ `floor`
    /// certified (RADIUS-4: its linear bound, valid over its own larger ball, is positive over the ball
    /// of radius `floor`; 0 when it proves nothing). Once a floor is known, the root finder aims a
    /// little past its estimate of the root, so that a failed check there closes the bracket with its
    /// floor.
    pub fn step_floor(&self, state: &mut SearchState, margin: f64, floor: f64) {
        self.record(state, margin > 0.0, margin, floor);
    }

    fn record(&self, state: &mut SearchState, certified: bool, margin: f64, floor: f64) {
        state.checks += 1;
        let eps = state.eps;
        let width = state.hi.map(|h| h - state.certified());
        // the moved end's margin fell to a quarter or less: the root finder converges from that side
        let before = if certified { state.lo_margin } else { state.hi_margin };
        let converging = margin.abs() <= 0.25 * before.abs();
        if certified {
            state.prev = Some((state.lo, state.lo_margin));
            if state.last == Side::Lo {
                state.weights.1 *= ab_factor(state.lo_margin, margin); // the other end was kept twice
            }
            state.lo = eps;
            state.lo_margin = margin;
            state.weights.0 = 1.0;
            state.last = Side::Lo;
        } else {
            let margin = if margin.is_nan() { f64::NAN } else { margin.min(0.0) };
            if state.last == Side::Hi {
                state.weights.0 *= ab_factor(state.hi_margin, margin);
            }
            state.prev_hi = state.hi.map(|h| (h, state.hi_margin));
            state.hi = Some(eps);
            state.hi_margin = margin;
            if floor > 0.0 && floor <= eps {
                state.floor = state.floor.max(floor);
            }
            state.weights.1 = 1.0;
            state.last = Side::Hi;
            if state.lo == 0.0 && eps < self.eps_min {
                state.done = true;
            }
        }
        // Brent's safeguard: a bracket not halved over the last two steps forces a bisection
        if let (Some(w0), Some(h)) = (width, state.hi) {
            state.bisect = !state.bisect && !converging && h - state.certified() > 0.5 * state.width_before_last;
            state.width_before_last = w0;
        }
        match state.hi {
            None if certified && eps >= self.eps_max => state.done = true,
            // an estimated start certified: check just above the estimate
            None if state.checks == 1 && state.estimate.is_finite() => state.eps = (1.0 + PROBE * self.rel_tol) * state.estimate,
            None => state.eps = self.grow(state),
            Some(h) => {
                let lo = state.certified();
                if lo > 0.0 && h - lo <= self.rel_tol * h {
                    state.done = true;
                } else {
                    state.eps = self.inside(state, h);
                }
            }
        }
    }

    /// The next ε while no check has failed: where the secant through the last two certified points
    /// (or ε = 0 and the last) reaches margin 0, overshot by a tenth so that it likely brackets, growing
    /// at least ×1.25 and at most ×8; doubling without margins.
    fn grow(&self, s: &SearchState) -> f64 {
        let doubled = (2.0 * s.lo).min(self.eps_max);
        let Some((e0, m0)) = s.prev else { return doubled };
        let (e1, m1) = (s.lo, s.lo_margin);
        if !(m0.is_finite() && m1.is_finite() && e1 > e0 && m1 < m0) {
            return doubled;
        }
        let root = e1 + m1 * (e1 - e0) / (m0 - m1);
        // just past a certified estimated start (RADIUS-3) the radius is near: at most double once
        let most = if s.estimate.is_finite() && s.checks <= 2 { 2.0 } else { 8.0 };
        (1.1 * root).clamp(1.25 * e1, most * e1).min(self.eps_max)
    }

    /// The next ε inside the bracket [lo, hi]: Illinois regula falsi on the two ends' margins, kept at
    /// least half the tolerance from either end; the midpoint without margins or after two steps that did
    /// not halve the bracket.
    fn inside(&self, s: &SearchState, hi: f64) -> f64 {
        let mid = split(s.certified(), hi);
        let (fa, fb) = (s.lo_margin, s.hi_margin);
        if s.bisect || !(fa.is_finite() && fb.is_finite() && fa > 0.0 && fb <= 0.0) {
            return mid;
        }
        // a bound falling off a cliff (as neurons turn unstable): the chord across the bracket is far
        // steeper than the slope on the certified side, and the secant would creep along the flat side
        let chord = (fa - fb) / (hi - s.lo);
        let pad = (0.5 * self.rel_tol * hi).min(0.25 * (hi - s.lo));
        if let Some((e0, m0)) = s.prev.filter(|&(e0, m0)| m0.is_finite() && e0 < s.lo) {
            let slope = (m0 - fa) / (s.lo - e0);
            if chord > CLIFF * slope {
                // a bound bending down that steeply lies below its tangent at lo and above the chord: the
                // root lies between the chord's root and where the certified side's secant reaches 0
                // (that secant is no steeper than the tangent); bisect there
                let above = if slope > 0.0 { s.lo + fa / slope } else { hi };
                let (a, b) = (s.certified() + pad, above.min(hi - pad));
                // the last step certified short of the root: the certified side's secant root (exact
                // where the margin is straight up to a kink at the root), just inside the tolerance
                if s.last == Side::Lo && a < b && above < hi - pad {
                    return (b - pad).max(a);
                }
                // with two failed points past lo, model the fall from lo as a power of the distance,
                // m(ε) ≈ m(lo) − B·(ε − lo)^p, and aim at its root inside the bisected interval
                if let Some((e2, m2)) = s.prev_hi.filter(|&(e2, m2)| e2 > hi && m2 < fb && fb < 0.0) {
                    let (l1, l2, d1, d2) = (fa - fb, fa - m2, hi - s.lo, e2 - s.lo);
                    let p = (l2 / l1).ln() / (d2 / d1).ln();
                    let x = s.lo + d1 * (fa / l1).powf(1.0 / p);
                    if p.is_finite() && p >= 1.0 && x.is_finite() && a < b {
                        return x.clamp(a, b);
                    }
                }
                return if a < b { split(a, b) } else { mid };
            }
        }
        let (fa, fb) = (s.weights.0 * fa, s.weights.1 * fb);
        let mut x = hi - fb * (hi - s.lo) / (fb - fa);
        // the end game: where one check on the side the estimate predicts would close the bracket, check
        // as far from the estimate as still closes it (a certified check at ≥ hi·(1 − tol), or a failed one
        // at ≤ lo/(1 − tol)), the farther of the two when both would
        let reach = 0.99 * self.rel_tol;
        let (from_below, from_above) = (hi * (1.0 - reach), s.certified() / (1.0 - reach));
        let below = from_below < x && from_below > s.certified();
        let above = from_above > x && from_above < hi;
        if below && (!above || x - from_below >= from_above - x) {
            x = from_below;
        } else if above {
            x = from_above;
        } else if s.floor > 0.0 {
            // past the estimate by half the tolerance: failing there, the check's floor likely closes
            x *= 1.0 + 0.5 * self.rel_tol;
        }
        // without a slope on the certified side a cliff cannot be told from a far root: move at least
        // a sixteenth of the bracket, or half of it below a failed estimate (RADIUS-3: the radius is
        // then mostly within a factor 2 below it)
        let share = if s.estimate.is_finite() { 0.5 } else { 1.0 / 16.0 };
        let low_pad = if s.prev.is_none() { pad.max((hi - s.lo) * share) } else { pad };
        let x = x.max(s.lo + low_pad).min(hi - pad);
        // a floor is proven: never check below it
        if s.floor > s.lo { x.max((s.floor + pad).min(hi - pad)) } else { x }
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

    /// Runs the root finder with `margin_at(ε)`, a sound lower bound of the answer's least margin over the
    /// ε-ball (certified iff > 0), starting from the margin at ε = 0 (NaN when unknown).
    pub fn run_margin(&self, margin0: f64, margin_at: impl FnMut(f64) -> f64) -> SearchResult {
        self.run_from(self.start_at(margin0), margin_at)
    }

    /// Runs the root finder from the fresh search `st` (from [`start_guessed`](Self::start_guessed)) with
    /// `margin_at(ε)` as in [`run_margin`](Self::run_margin).
    pub fn run_from(&self, mut st: SearchState, mut margin_at: impl FnMut(f64) -> f64) -> SearchResult {
        while !st.done {
            let m = margin_at(st.eps);
            self.step_margin(&mut st, m);
        }
        st.result()
    }
}

/// The bisection point of [a, b]: the midpoint, or the geometric mean when b > 4a > 0 (a bracket spanning
/// a large ratio is halved in log scale: a check far above the root is the costliest and tells least).
fn split(a: f64, b: f64) -> f64 {
    if a > 0.0 && b > 4.0 * a { (a * b).sqrt() } else { 0.5 * (a + b) }
}

/// The regula falsi bisects instead when the bracket's chord is this many times steeper than the
/// certified side's slope (without a slope there it moves at least a sixteenth of the bracket).
const CLIFF: f64 = 3.0;

/// Anderson–Björck's scaling of the end kept twice: 1 − f_new/f_old when that is positive, else ½
/// (Illinois).
fn ab_factor(f_old: f64, f_new: f64) -> f64 {
    let m = 1.0 - f_new / f_old;
    if m.is_finite() && m > 0.0 { m } else { 0.5 }
}

/// Which end of the bracket the last check moved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    None,
    Lo,
    Hi,
}

/// The bracket of one row's search: `lo` was certified (or is 0), `hi` failed; `eps` is checked next.
/// The margins at the ends (NaN when unknown) steer the root finder only.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SearchState {
    pub lo: f64,
    pub hi: Option<f64>,
    pub eps: f64,
    pub checks: usize,
    pub done: bool,
    pub lo_margin: f64,
    pub hi_margin: f64,
    /// The certified point before `lo`, and its margin (for the secant while growing).
    pub prev: Option<(f64, f64)>,
    /// Illinois / Anderson–Björck weights of the (lo, hi) margins in the regula falsi (1 when that end
    /// just moved).
    pub weights: (f64, f64),
    pub last: Side,
    /// The bracket's width before the last step (∞ before a bracket): with the width now, whether the
    /// last two steps halved it.
    pub width_before_last: f64,
    /// The next step bisects (Brent's safeguard).
    pub bisect: bool,
    /// The largest ε proven certified by a failed check's own linear bound (RADIUS-4; 0 if none). Never
    /// checked itself, so it bounds the bracket and the result but does not steer the root finder.
    pub floor: f64,
    /// The estimated radius the search started from (RADIUS-3; NaN when it did not).
    pub estimate: f64,
    /// The failed point before `hi`, and its margin (for the shape of a cliff).
    pub prev_hi: Option<(f64, f64)>,
}

impl SearchState {
    /// The outcome so far.
    pub fn result(&self) -> SearchResult {
        SearchResult { certified: self.certified(), failed: self.hi, checks: self.checks }
    }

    /// The largest ε proven certified so far: a certified check's, or a failed check's floor.
    pub fn certified(&self) -> f64 {
        self.lo.max(self.floor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The search from `st` on the margin `m`, and every ε it checked, in order.
    fn traced(s: &RadiusSearch, st: SearchState, m: impl Fn(f64) -> f64) -> (SearchResult, Vec<f64>) {
        let mut seen = Vec::new();
        let r = s.run_from(st, |e| {
            seen.push(e);
            m(e)
        });
        (r, seen)
    }

    /// The largest ε in [a, b] where the decreasing `m` is still positive, by bisection to the last bit.
    fn threshold(m: impl Fn(f64) -> f64, (mut a, mut b): (f64, f64)) -> f64 {
        for _ in 0..200 {
            let c = 0.5 * (a + b);
            if m(c) > 0.0 { a = c } else { b = c }
        }
        a
    }

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

    /// RADIUS-2: the root finder on smooth decreasing margins (linear, concave, convex, steep): the same bracket
    /// guarantee as bisection, in far fewer checks.
    #[test]
    fn the_root_finder_brackets_the_root_in_few_checks() {
        let s = RadiusSearch::default();
        type Margin = Box<dyn Fn(f64) -> f64>;
        let margins: [(&str, f64, Margin); 6] = [
            ("linear", 0.3172, Box::new(|e: f64| 1.0 - e / 0.3172)),
            ("concave", 0.05, Box::new(|e: f64| 2.0 - 3.0 * e - 400.0 * e * e)),
            ("convex", 2.7, Box::new(|e: f64| (1.0 / (1.0 + e)) - 1.0 / 3.7)),
            // piecewise linear, steeper past a kink (as CROWN's bound once neurons turn unstable)
            ("kinked", 0.625, Box::new(|e: f64| if e < 0.5 { 1.0 - e } else { 0.5 - 4.0 * (e - 0.5) })),
            ("tiny", 3e-7, Box::new(|e: f64| 3e-7 - e)),
            // a triple root: regula falsi's worst case, where the safeguard's bisections carry it
            ("flat", 1234.5, Box::new(|e: f64| (1234.5 - e).powi(3))),
        ];
        for (name, root, m) in margins {
            let root = if name == "concave" { (-3.0 + (9.0f64 + 3200.0).sqrt()) / 800.0 } else { root };
            let bis = s.run(|e| m(e) > 0.0);
            let rf = s.run_margin(m(0.0), &m);
            assert!(rf.certified <= root && rf.certified >= root * (1.0 - 1e-4), "{name}: {rf:?} vs {root}");
            assert!(rf.failed.unwrap() >= root && rf.failed.unwrap() - rf.certified <= 1e-4 * rf.failed.unwrap(), "{name}: {rf:?}");
            if name == "flat" {
                assert!(rf.checks * 2 <= bis.checks * 3, "{name}: {} checks vs bisection's {}", rf.checks, bis.checks);
            } else {
                assert!(rf.checks * 2 <= bis.checks, "{name}: {} checks vs bisection's {}", rf.checks, bis.checks);
            }
        }
    }

    /// RADIUS-1/2: with margins the reported radius is still a checked, certified point when the margin is not
    /// monotone, and NaN or −∞ margins are failures.
    #[test]
    fn the_root_finder_reports_a_checked_point_for_any_margin() {
        let s = RadiusSearch::default();
        for m in [|e: f64| if e <= 0.2 || (0.5..=0.6).contains(&e) { 1.0 - e } else { -1.0 }, |e: f64| if e < 0.4 { (13.0 * e).sin() + 0.1 } else { f64::NAN }, |e: f64| if e < 1.0 { 1.0 } else { f64::NEG_INFINITY }] {
            let mut seen = Vec::new();
            let r = s.run_margin(1.0, |e| {
                seen.push((e, m(e)));
                m(e)
            });
            assert!(r.certified == 0.0 || seen.iter().any(|&(e, v)| v > 0.0 && e == r.certified), "{r:?}");
            assert!(m(r.certified) > 0.0 || r.certified == 0.0);
        }
    }

    /// RADIUS-3: on a linear margin the linearized distance is the root, and the search from ⅔ of it
    /// closes in three checks (certified start, one secant step past the root, one inside) — far fewer
    /// than from `eps_start`; the reported radius is a checked point either way.
    #[test]
    fn the_linearized_start_needs_few_checks_and_reports_a_checked_point() {
        let s = RadiusSearch::default();
        for root in [3e-4, 0.05, 0.3172, 7.0] {
            let m = |e: f64| 1.0 - e / root;
            let st = s.start_guessed(m(0.0), root, f64::NAN);
            assert_eq!(st.eps, LINEAR_START * root);
            let (r, seen) = traced(&s, st, m);
            assert!(r.certified <= root && r.failed.unwrap() - r.certified <= 1e-4 * r.failed.unwrap(), "{root}: {r:?}");
            assert!(seen.contains(&r.certified), "{root}: a checked point");
            assert!(r.checks <= 4, "{root}: {} checks", r.checks);
            let from_start = s.run_margin(m(0.0), m).checks;
            if !(1e-3..=1.0).contains(&root) {
                assert!(r.checks < from_start, "{root}: {} checks, {from_start} from eps_start", r.checks);
            }
        }
    }

    /// RADIUS-3: without a usable guess (NaN, 0, negative, infinite) or under `Fixed`, the first check is
    /// at `eps_start`; a guess beyond the limits is clamped to them.
    #[test]
    fn the_linearized_start_falls_back_to_eps_start() {
        let s = RadiusSearch::default();
        for bad in [f64::NAN, 0.0, -1.0, f64::INFINITY] {
            assert_eq!(s.start_guessed(1.0, bad, f64::NAN).eps, s.eps_start, "{bad}");
        }
        let fixed = RadiusSearch { start: SearchStart::Fixed, ..RadiusSearch::default() };
        assert_eq!(fixed.start_guessed(1.0, 0.3, 0.2).eps, fixed.eps_start);
        assert_eq!(s.start_guessed(1.0, 1e12, f64::NAN).eps, s.eps_max);
        assert_eq!(s.start_guessed(1.0, 1e-12, f64::NAN).eps, s.eps_min);
    }

    /// RADIUS-3: from an estimate within 0.4 · rel_tol of the root, the search checks just below and
    /// just above it and is done (two checks, a checked certified point within the tolerance); from an
    /// estimate above the root it bisects towards 0, and from one below it grows; either way the bracket
    /// guarantee holds.
    #[test]
    fn an_estimated_start_closes_in_two_checks_when_the_estimate_is_right() {
        let s = RadiusSearch::default();
        for root in [3e-4, 0.05, 0.3172, 7.0] {
            let m = |e: f64| 1.0 - e / root - 0.3 * (e / root).powi(2) + 0.3;
            for (estimate, most) in [(root, 2), (root * (1.0 + 0.2 * s.rel_tol), 2), (root * (1.0 - 0.3 * s.rel_tol), 2), (1.7 * root, 8), (0.6 * root, 8)] {
                let st = s.start_guessed(m(0.0), f64::NAN, estimate);
                assert_eq!(st.eps, estimate * (1.0 - PROBE * s.rel_tol));
                let (r, seen) = traced(&s, st, m);
                assert!(r.certified <= root && r.failed.unwrap() - r.certified <= s.rel_tol * r.failed.unwrap(), "{root}, {estimate}: {r:?}");
                assert!(seen.contains(&r.certified), "{root}: a checked point");
                assert!(r.checks <= most, "{root}, estimate {estimate}: {} checks ({seen:?})", r.checks);
                if estimate > 1.5 * root {
                    assert!(seen[1] >= 0.5 * seen[0], "below a failed estimate the search bisects: {seen:?}");
                }
            }
        }
        // an estimate is used only under `Estimated`
        let lin = RadiusSearch { start: SearchStart::Linearized, ..RadiusSearch::default() };
        assert_eq!(lin.start_guessed(1.0, 0.3, 0.2).eps, LINEAR_START * 0.3);
        assert_eq!(s.start_guessed(1.0, 0.3, f64::NAN).eps, LINEAR_START * 0.3);
    }

    /// RADIUS-2 (i): a margin falling off a cliff past a flat stretch (as CROWN's on ACAS Xu, whose
    /// linearized distance is far beyond the root) is bracketed as bisection does, in no more checks
    /// (a cliff leaves the root finder nothing but bisection; the geometric split keeps the far checks few).
    #[test]
    fn the_root_finder_handles_a_cliff_after_a_flat_stretch() {
        let s = RadiusSearch::default();
        let m = |e: f64| 2.7e-3 - 0.005 * e - 1e4 * (e - 0.05).max(0.0).powi(2);
        let root = threshold(m, (0.05, 1.0));
        let r = s.run_from(s.start_guessed(m(0.0), 0.54, f64::NAN), m);
        let bisection = s.run(|e| m(e) > 0.0).checks;
        assert!(r.certified <= root && r.certified >= root * (1.0 - 1e-4), "{r:?} vs {root}");
        assert!(r.checks <= bisection, "{r:?}, bisection {bisection}");
    }

    /// RADIUS-2 (i): past two failed checks on a cliff the search aims at the root of the power of the
    /// distance from lo that fits them; on a power-shaped cliff (as CROWN's on ACAS Xu) that root is
    /// nearly exact: at most 8 checks from an estimate 1.37× too high (10 for p = 2 without the fit).
    #[test]
    fn the_root_finder_fits_the_power_of_a_cliff() {
        let s = RadiusSearch::default();
        for (p, onset) in [(2.0, 0.05), (3.0, 0.02), (5.5, 0.04)] {
            let m = |e: f64| 2.7e-3 - 1e-3 * e - 40.0 * (e - onset).max(0.0).powf(p);
            let root = threshold(m, (onset, 10.0));
            let (r, seen) = traced(&s, s.start_guessed(m(0.0), f64::NAN, 1.37 * root), m);
            let bisection = s.run(|e| m(e) > 0.0).checks;
            assert!(r.certified <= root && r.certified >= root * (1.0 - 1e-4), "{p}: {r:?} vs {root}");
            assert!(r.checks <= 8 && r.checks * 2 <= bisection, "{p}: {} checks ({seen:?}), bisection {bisection}", r.checks);
        }
    }

    /// RADIUS-2 (i): a margin straight up to a kink at the root (shallow on the certified side, steep
    /// past it) is a cliff whose certified-side secant root is the root itself: after a certified step
    /// the search checks just inside it, and needs at most two checks more than bisection (38 before this
    /// rule).
    #[test]
    fn the_root_finder_handles_a_kink_at_the_root() {
        let s = RadiusSearch { start: SearchStart::Linearized, ..RadiusSearch::default() };
        for r in [0.0044, 0.37, 2.5] {
            let m = |e: f64| if e < r { 0.03 * (r - e) } else { -0.25 * (e - r) };
            let res = s.run_from(s.start_guessed(m(0.0), 3.0 * r, f64::NAN), m);
            let bisection = s.run(|e| m(e) > 0.0).checks;
            assert!(res.certified <= r && res.certified >= r * (1.0 - 1e-4), "{r}: {res:?}");
            assert!(res.checks <= bisection + 2, "{r}: {} checks, bisection {bisection}", res.checks);
        }
    }

    /// RADIUS-2 end game and RADIUS-3's growth cap, each on a margin where it saves a check (measured
    /// without it: 7 and 10 checks).
    #[test]
    fn the_end_game_and_the_growth_cap_save_checks() {
        let r = 0.37;
        let bend = |e: f64| 1.0 - e / r - 1.5 * ((e / r) - 0.8f64).max(0.0).powi(2) + 1.5 * 0.04;
        let lin = RadiusSearch { start: SearchStart::Linearized, ..RadiusSearch::default() };
        let res = lin.run_from(lin.start_guessed(bend(0.0), 1.95 * r, f64::NAN), bend);
        assert!(res.checks <= 6 && res.certified <= r && res.certified >= r * (1.0 - 1e-4), "end game: {res:?}");
        let cubic = |e: f64| 1.0 - (e / r).powi(3);
        let s = RadiusSearch::default();
        let res = s.run_from(s.start_guessed(cubic(0.0), f64::NAN, 0.6 * r), cubic);
        assert!(res.checks <= 8 && res.certified <= r && res.certified >= r * (1.0 - 1e-4), "growth cap: {res:?}");
    }

    /// RADIUS-3: an estimate whose probes would leave [eps_min, eps_max] is not used (a clamped first
    /// check would put the second probe below a certified first one), and the search falls back.
    #[test]
    fn an_estimate_outside_the_limits_is_not_used() {
        let s = RadiusSearch::default();
        for bad in [1e-12, 0.99 * s.eps_min, 2e6] {
            let st = s.start_guessed(1.0, f64::NAN, bad);
            assert!(st.estimate.is_nan(), "{bad}");
            assert_eq!(st.eps, s.eps_start, "{bad}");
        }
        // a check that is certified only below 1e-9 and at one far point: no panic, a checked radius
        let r = s.run_margin(1.0, |e| if e <= 1e-9 || (0.5..0.6).contains(&e) { 1.0 } else { -1.0 });
        assert!(r.certified == 0.0 || r.certified <= 1e-9 || (0.5..0.6).contains(&r.certified), "{r:?}");
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
