//! Finite unions of closed intervals on the real line (sets of attribute values in raw units).
use serde::Serialize;

/// A closed interval [lo, hi] (lo ≤ hi; a point when equal).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Span {
    pub lo: f64,
    pub hi: f64,
}

impl Span {
    pub fn width(&self) -> f64 {
        self.hi - self.lo
    }

    pub fn contains(&self, z: f64) -> bool {
        self.lo <= z && z <= self.hi
    }
}

/// Sorts and merges overlapping or touching spans.
pub fn merge(mut spans: Vec<Span>) -> Vec<Span> {
    spans.sort_by(|a, b| a.lo.total_cmp(&b.lo));
    let mut out: Vec<Span> = Vec::with_capacity(spans.len());
    for s in spans {
        match out.last_mut() {
            Some(last) if s.lo <= last.hi => last.hi = last.hi.max(s.hi),
            _ => out.push(s),
        }
    }
    out
}

/// Total length of a merged set.
pub fn measure(set: &[Span]) -> f64 {
    set.iter().map(Span::width).sum()
}

/// Length of `a \ b` for merged sets.
pub fn measure_minus(a: &[Span], b: &[Span]) -> f64 {
    let overlap: f64 = a.iter().flat_map(|x| b.iter().map(move |y| (x.hi.min(y.hi) - x.lo.max(y.lo)).max(0.0))).sum();
    (measure(a) - overlap).max(0.0)
}

/// Whether every span of `inner` lies inside one span of `outer` (both merged), allowing each end to
/// stick out by `tol` (for ends computed by different floating-point routes).
pub fn subset(inner: &[Span], outer: &[Span], tol: f64) -> bool {
    inner.iter().all(|s| outer.iter().any(|o| o.lo - tol <= s.lo && s.hi <= o.hi + tol))
}

/// The span of `set` containing `z`, if any.
pub fn component(set: &[Span], z: f64) -> Option<Span> {
    set.iter().copied().find(|s| s.contains(z))
}

/// Text form "[a, b]; [c, d]" with `digits` decimals (empty set: "∅").
pub fn format(set: &[Span], digits: usize) -> String {
    if set.is_empty() {
        return "∅".into();
    }
    set.iter().map(|s| format!("[{:.digits$}, {:.digits$}]", s.lo, s.hi)).collect::<Vec<_>>().join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(lo: f64, hi: f64) -> Span {
        Span { lo, hi }
    }

    #[test]
    fn set_operations() {
        let a = merge(vec![s(3.0, 4.0), s(0.0, 1.0), s(0.5, 2.0)]);
        assert_eq!(a, vec![s(0.0, 2.0), s(3.0, 4.0)]);
        assert_eq!(measure(&a), 3.0);
        assert_eq!(measure_minus(&a, &[s(1.0, 3.5)]), 1.5);
        assert!(subset(&[s(0.2, 1.0)], &a, 0.0) && !subset(&[s(1.5, 3.2)], &a, 0.0) && subset(&[s(0.0, 2.1)], &a, 0.1));
        assert_eq!(component(&a, 3.5), Some(s(3.0, 4.0)));
        assert_eq!(component(&a, 2.5), None);
        assert_eq!(format(&a, 1), "[0.0, 2.0]; [3.0, 4.0]");
    }
}
