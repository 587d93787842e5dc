//! Intermediate bounds tightened by ReLU splitting (BETA-4 in `proofs/BAB.md`): the sound counterpart of
//! α,β-CROWN's MILP refinement of intermediate layers ("bab-refine"). For each unstable neuron z of a
//! ReLU layer, each side of its bound is the root of a small branch and bound over the network up to
//! that layer: the worst sub-domain is split on its best-scored earlier neuron (BaBSR), every sub-domain
//! is bounded by β-CROWN (batched over all neurons of the layer), and the new bound is the least bound
//! over the leaves — the leaves cover the box, so it holds on the whole box.
use super::split::{babsr, beta_crown, BetaOptions, ReluBounds, Split, SplitDomain, Warm};
use crate::net::Network;
use ndarray::{Array1, Array2};
use std::time::Instant;

/// How much splitting each bound gets.
#[derive(Clone, Debug, PartialEq)]
pub struct RefineOptions {
    /// Splits per neuron side (each turns its tree's worst leaf into two).
    pub splits: usize,
    /// The β-CROWN optimization of every leaf.
    pub beta: BetaOptions,
}

/// One leaf of a neuron side's tree.
struct Leaf {
    splits: Vec<Split>,
    bounds: ReluBounds,
    warm: Option<Warm>,
    /// A sound lower bound of s·z on the leaf (the best of its own and its ancestors').
    value: f64,
    /// The split to make next, if any neuron is left unstable.
    next: Option<(usize, usize)>,
}

/// `bounds` (sound over the box [lo, hi]) with every ReLU layer after the first tightened by splitting,
/// layer after layer, each layer's new bounds feeding the next. Never looser than `bounds`; past
/// `until` the remaining layers keep theirs.
pub fn refine_by_splitting(net: &Network, lo: &[f64], hi: &[f64], bounds: &ReluBounds, opts: &RefineOptions, until: Option<Instant>) -> ReluBounds {
    let mut out = bounds.clone();
    let relu_layers: Vec<usize> = (0..net.layers.len()).filter(|&i| out.relu[i].is_some()).collect();
    for &i in relu_layers.iter().skip(1) {
        if until.is_some_and(|t| Instant::now() >= t) {
            break;
        }
        let (l, u) = out.relu[i].clone().expect("ReLU layer");
        let sides: Vec<(usize, f64)> = (0..l.len()).filter(|&j| l[j] < 0.0 && u[j] > 0.0).flat_map(|j| [(j, 1.0), (j, -1.0)]).collect();
        if sides.is_empty() {
            continue;
        }
        let sub = Network::new(net.input_shape.clone(), net.layers[..i].to_vec()).expect("a prefix of a valid network");
        let sub_bounds = ReluBounds { relu: out.relu[..i].to_vec() };
        let values = tighten_layer(&sub, lo, hi, &sub_bounds, &sides, &l, &u, opts, until);
        let (lm, um) = out.relu[i].as_mut().expect("ReLU layer");
        for (&(j, s), v) in sides.iter().zip(values) {
            if s > 0.0 {
                lm[j] = lm[j].max(v);
            } else {
                um[j] = um[j].min(-v);
            }
        }
    }
    out
}

/// For each side (j, s), a sound lower bound of s·z_j over the box, z = `sub`'s output, by splitting.
#[allow(clippy::too_many_arguments)]
fn tighten_layer(sub: &Network, lo: &[f64], hi: &[f64], root: &ReluBounds, sides: &[(usize, f64)], l: &Array1<f64>, u: &Array1<f64>, opts: &RefineOptions, until: Option<Instant>) -> Vec<f64> {
    let k = l.len();
    let spec_of = |&(j, s): &(usize, f64)| Array2::from_shape_fn((1, k), |(_, q)| if q == j { s } else { 0.0 });
    let start = |&(j, s): &(usize, f64)| if s > 0.0 { l[j] } else { -u[j] };
    // the root of every tree, bounded once (its value: the better of this bound and the given one)
    let mut trees: Vec<Vec<Leaf>> = bound_leaves(sub, lo, hi, sides, &spec_of, opts, sides.iter().map(|sd| (Vec::new(), root.clone(), None, start(sd), None)).collect())
        .into_iter()
        .map(|leaf| vec![leaf])
        .collect();
    for _ in 0..opts.splits {
        if until.is_some_and(|t| Instant::now() >= t) {
            break;
        }
        // each tree's worst leaf with a neuron left to split, split into its two children, a group of
        // trees at a time (the deadline is checked between groups)
        let order: Vec<usize> = (0..trees.len()).collect();
        for group in order.chunks(TREES_PER_GROUP) {
            if until.is_some_and(|t| Instant::now() >= t) {
                break;
            }
            split_worst(sub, lo, hi, sides, &spec_of, opts, &mut trees, group);
        }
    }
    // (a tree without leaves would mean an empty box: keep the given bound then)
    trees.iter().zip(sides).map(|(tree, sd)| tree.iter().map(|lf| lf.value).reduce(f64::min).unwrap_or(start(sd))).collect()
}

/// Trees split per batch of β-CROWN bounds (a constant: results never depend on the grouping, since
/// each leaf's bound depends only on that leaf).
const TREES_PER_GROUP: usize = 64;

/// Splits the worst open leaf of each tree of `group` into its two children and bounds them.
#[allow(clippy::too_many_arguments)]
fn split_worst(sub: &Network, lo: &[f64], hi: &[f64], sides: &[(usize, f64)], spec_of: &dyn Fn(&(usize, f64)) -> Array2<f64>, opts: &RefineOptions, trees: &mut [Vec<Leaf>], group: &[usize]) {
    let mut pending = Vec::new();
    for &t in group {
        let tree = &mut trees[t];
        let Some(w) = (0..tree.len()).filter(|&q| tree[q].next.is_some()).min_by(|&a, &b| tree[a].value.total_cmp(&tree[b].value)) else { continue };
        // a tree whose worst leaf proves the neuron stable on that side needs no more
        if tree.iter().map(|lf| lf.value).fold(f64::INFINITY, f64::min) >= 0.0 {
            continue;
        }
        let leaf = tree.swap_remove(w);
        let (layer, neuron) = leaf.next.expect("filtered");
        for active in [true, false] {
            let split = Split { layer, neuron, active };
            let Some(bounds) = leaf.bounds.with_splits(&[split]) else { continue }; // empty: drops out
            let mut splits = leaf.splits.clone();
            splits.push(split);
            pending.push((t, (splits, bounds, leaf.warm.as_ref().map(Warm::with_new_split), leaf.value, Some(layer))));
        }
    }
    if pending.is_empty() {
        return;
    }
    let (owners, items): (Vec<usize>, Vec<_>) = pending.into_iter().unzip();
    let own_sides: Vec<(usize, f64)> = owners.iter().map(|&t| sides[t]).collect();
    for (t, leaf) in owners.into_iter().zip(bound_leaves(sub, lo, hi, &own_sides, spec_of, opts, items)) {
        trees[t].push(leaf);
    }
}

/// (splits, clamped bounds, warm start, parent's value, recompute after this layer).
type LeafInput = (Vec<Split>, ReluBounds, Option<Warm>, f64, Option<usize>);

/// β-CROWN bounds of the leaves (leaf q bounds s·z_j for `sides[q]`).
#[allow(clippy::too_many_arguments)]
fn bound_leaves(sub: &Network, lo: &[f64], hi: &[f64], sides: &[(usize, f64)], spec_of: &dyn Fn(&(usize, f64)) -> Array2<f64>, opts: &RefineOptions, items: Vec<LeafInput>) -> Vec<Leaf> {
    let doms: Vec<SplitDomain> = items
        .iter()
        .zip(sides)
        .map(|((splits, bounds, warm, _, after), sd)| SplitDomain {
            lower: lo,
            upper: hi,
            bounds: bounds.clone(),
            splits,
            spec: spec_of(sd),
            warm: warm.as_ref(),
            goal: None,
            refine_after: *after,
        })
        .collect();
    let results = beta_crown(sub, &doms, &opts.beta);
    drop(doms);
    items
        .into_iter()
        .zip(results)
        .map(|((splits, bounds, _, parent, _), res)| {
            let bounds = res.bounds.clone().unwrap_or(bounds);
            let next = babsr(&bounds, &res, 0, 1).first().copied();
            // a sub-domain lies inside its parent, so the parent's bound holds on it too
            Leaf { value: res.lower[0].max(parent), next, splits, bounds, warm: Some(res.warm) }
        })
        .collect()
}
