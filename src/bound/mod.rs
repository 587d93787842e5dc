//! Sound bound propagation: IBP, CROWN and α-CROWN (SPEC §2).
//!
//! Guarantee (proofs: `proofs/IBP.md` IBP-1, `proofs/CROWN.md` CROWN-1/CROWN-2, `proofs/ALPHA.md` ALPHA-1,
//! `proofs/FP.md` FP-1…FP-4): for every x in the region, every returned lower bound `L_i` satisfies
//! `L_i ≤ (C · f(x))_i` for the exact real-valued network `f`, although all arithmetic is f64.
mod alpha;
mod crown;
mod ibp;
mod linear;

pub use alpha::AlphaCrownOptions;
pub use crown::{crown_lower_bounds, CrownContext};
pub use ibp::{ibp_boundaries, ibp_lower_bounds};

use crate::net::Network;
use crate::spec::{logit_spec, Region};
use ndarray::{Array1, Array2};

/// A closed interval per neuron.
#[derive(Clone, Debug, PartialEq)]
pub struct Interval {
    pub lower: Array1<f64>,
    pub upper: Array1<f64>,
}

impl Interval {
    /// max(|lower|, |upper|) per neuron: a bound on the magnitude of any value in the interval.
    pub fn magnitude(&self) -> Array1<f64> {
        ndarray::Zip::from(&self.lower).and(&self.upper).map_collect(|l, u| l.abs().max(u.abs()))
    }

    /// The intersection with `other` (both assumed to contain the same true values).
    pub fn intersect(&self, other: &Interval) -> Interval {
        Interval {
            lower: ndarray::Zip::from(&self.lower).and(&other.lower).map_collect(|a, b| a.max(*b)),
            upper: ndarray::Zip::from(&self.upper).and(&other.upper).map_collect(|a, b| a.min(*b)),
        }
    }
}

/// A bound-propagation method: the deterministic certifiers' common capability.
#[derive(Clone, Debug, PartialEq)]
pub enum BoundMethod {
    Ibp,
    Crown,
    AlphaCrown(AlphaCrownOptions),
}

impl BoundMethod {
    /// The method's name in files and on the command line.
    pub fn name(&self) -> &'static str {
        match self {
            BoundMethod::Ibp => "ibp",
            BoundMethod::Crown => "crown",
            BoundMethod::AlphaCrown(_) => "alpha-crown",
        }
    }

    /// Sound lower bounds of `spec · f(x)` over `region`, one per row of `spec` (shape m × outputs).
    pub fn lower_bounds(&self, net: &Network, region: &Region, spec: &Array2<f64>) -> Array1<f64> {
        match self {
            BoundMethod::Ibp => ibp_lower_bounds(net, region, spec),
            BoundMethod::Crown => crown_lower_bounds(net, region, spec),
            BoundMethod::AlphaCrown(opts) => alpha::alpha_crown_lower_bounds(net, region, spec, opts),
        }
    }

    /// Sound lower and upper bounds of every logit over `region`.
    pub fn logit_bounds(&self, net: &Network, region: &Region) -> Interval {
        let k = net.output_dim();
        let lb = self.lower_bounds(net, region, &logit_spec(k));
        Interval {
            lower: lb.slice(ndarray::s![..k]).to_owned(),
            upper: lb.slice(ndarray::s![k..]).mapv(|v| -v),
        }
    }
}
