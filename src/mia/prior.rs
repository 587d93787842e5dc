//! The generator prior of the model-inversion attack: BREP-MI searches a generator's latent space
//! (a GAN's, in the paper); here a linear decoder learned from the attacker's public images, or the
//! identity on pixels.
use crate::rng::Philox;
use crate::{Error, Result};
use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis};
use serde::{Deserialize, Serialize};

/// Which prior the attack searches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum PriorKind {
    /// Whitened PCA of the public images: G(z) = clamp(μ + P·z, 0, 1), P the leading principal axes
    /// scaled by their standard deviations, so z ~ N(0, I) draws images like the public ones.
    Pca,
    /// The pixels themselves: G(z) = clamp(z, 0, 1).
    Identity,
}

/// A decoder from latent points to images in [0, 1]ᵈ.
#[derive(Clone, Debug, PartialEq)]
pub enum Prior {
    /// G(z) = clamp(z, 0, 1) on d pixels; latent points stay in [0, 1]ᵈ.
    Identity { dim: usize },
    /// G(z) = clamp(μ + P·z, 0, 1), P of shape d × k; latent points stay in [−1.5, 1.5]ᵏ (the attack's
    /// clamp in the authors' code).
    Pca { mean: Array1<f64>, basis: Array2<f64>, variance_share: f64 },
}

/// The latent clamp of the PCA prior (BREP-MI's `point_clamp`).
pub const LATENT_CLAMP: f64 = 1.5;

impl Prior {
    /// The whitened PCA of `images` (rows) with `k` components: the covariance's leading eigenvectors
    /// (cyclic Jacobi), each scaled by the square root of its eigenvalue.
    pub fn fit_pca(images: ArrayView2<f64>, k: usize) -> Result<Prior> {
        let (n, d) = images.dim();
        if k == 0 || k > d || n < 2 {
            return Err(Error::Option(format!("a PCA prior needs 1 ≤ k ≤ {d} components and at least 2 images, got k = {k} and {n} images")));
        }
        let mean = images.mean_axis(Axis(0)).expect("rows");
        let centered = &images - &mean.view().insert_axis(Axis(0));
        let cov = centered.t().dot(&centered) / (n - 1) as f64;
        let (values, vectors) = symmetric_eigen(&cov);
        let mut order: Vec<usize> = (0..d).collect();
        order.sort_by(|&a, &b| values[b].total_cmp(&values[a]).then(a.cmp(&b)));
        let total: f64 = values.iter().map(|v| v.max(0.0)).sum();
        let mut basis = Array2::zeros((d, k));
        let mut kept = 0.0;
        for (c, &i) in order.iter().take(k).enumerate() {
            let s = values[i].max(0.0).sqrt();
            kept += values[i].max(0.0);
            // a fixed sign per axis (largest entry positive), so the prior does not depend on the solver's
            let col = vectors.column(i);
            let big = col.iter().enumerate().fold(0, |b, (j, v)| if v.abs() > col[b].abs() { j } else { b });
            let sign = if col[big] < 0.0 { -1.0 } else { 1.0 };
            basis.column_mut(c).assign(&(&col * (sign * s)));
        }
        Ok(Prior::Pca { mean, basis, variance_share: if total > 0.0 { kept / total } else { 0.0 } })
    }

    /// The latent dimension.
    pub fn latent_dim(&self) -> usize {
        match self {
            Prior::Identity { dim } => *dim,
            Prior::Pca { basis, .. } => basis.ncols(),
        }
    }

    /// The latent box every point is clamped to.
    pub fn bounds(&self) -> (f64, f64) {
        match self {
            Prior::Identity { .. } => (0.0, 1.0),
            Prior::Pca { .. } => (-LATENT_CLAMP, LATENT_CLAMP),
        }
    }

    /// Clamps a latent point into the latent box.
    pub fn clamp(&self, z: &mut Array1<f64>) {
        let (lo, hi) = self.bounds();
        z.mapv_inplace(|v| v.clamp(lo, hi));
    }

    /// The images of latent points (rows).
    pub fn decode(&self, z: ArrayView2<f64>) -> Array2<f64> {
        match self {
            Prior::Identity { .. } => z.mapv(|v| v.clamp(0.0, 1.0)),
            Prior::Pca { mean, basis, .. } => (z.dot(&basis.t()) + &mean.view().insert_axis(Axis(0))).mapv(|v| v.clamp(0.0, 1.0)),
        }
    }

    /// The image of one latent point.
    pub fn decode_one(&self, z: ArrayView1<f64>) -> Array1<f64> {
        self.decode(z.insert_axis(Axis(0))).row(0).to_owned()
    }

    /// Latent point `index` of stream `stream`: N(0, I) clamped (PCA), uniform in [0, 1]ᵈ (identity).
    pub fn sample(&self, rng: &Philox, stream: u64, index: u64) -> Array1<f64> {
        let k = self.latent_dim();
        let mut z = vec![0.0; 2 * k.div_ceil(2)];
        let first = index * k.div_ceil(2) as u64;
        match self {
            Prior::Pca { .. } => rng.fill_normal_pairs(stream, first, &mut z),
            Prior::Identity { .. } => {
                for (i, pair) in z.chunks_mut(2).enumerate() {
                    pair.copy_from_slice(&rng.uniform_pair(stream, first + i as u64));
                }
            }
        }
        let mut z = Array1::from(z[..k].to_vec());
        self.clamp(&mut z);
        z
    }

    /// A one-line description for reports.
    pub fn describe(&self) -> String {
        match self {
            Prior::Identity { dim } => format!("identity on {dim} pixels in [0, 1]"),
            Prior::Pca { basis, variance_share, .. } => {
                format!("whitened PCA, {} components ({:.1}% of the public images' variance), latent box [−{LATENT_CLAMP}, {LATENT_CLAMP}]", basis.ncols(), 100.0 * variance_share)
            }
        }
    }
}

/// Eigenvalues and eigenvectors (columns) of a symmetric matrix by the cyclic Jacobi method: rotations
/// zero each off-diagonal entry in turn until their squares sum below 10⁻²⁴ of the matrix's (a few
/// sweeps for 64 × 64).
pub fn symmetric_eigen(a: &Array2<f64>) -> (Array1<f64>, Array2<f64>) {
    let n = a.nrows();
    let mut m = a.clone();
    let mut v = Array2::<f64>::eye(n);
    let scale: f64 = m.iter().map(|x| x * x).sum::<f64>().max(f64::MIN_POSITIVE);
    for _ in 0..100 {
        let off: f64 = (0..n).flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j))).map(|(i, j)| m[[i, j]] * m[[i, j]]).sum();
        if off <= 1e-24 * scale {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = m[[p, q]];
                if apq == 0.0 {
                    continue;
                }
                let theta = (m[[q, q]] - m[[p, p]]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..n {
                    let (mkp, mkq) = (m[[k, p]], m[[k, q]]);
                    m[[k, p]] = c * mkp - s * mkq;
                    m[[k, q]] = s * mkp + c * mkq;
                }
                for k in 0..n {
                    let (mpk, mqk) = (m[[p, k]], m[[q, k]]);
                    m[[p, k]] = c * mpk - s * mqk;
                    m[[q, k]] = s * mpk + c * mqk;
                }
                for k in 0..n {
                    let (vkp, vkq) = (v[[k, p]], v[[k, q]]);
                    v[[k, p]] = c * vkp - s * vkq;
                    v[[k, q]] = s * vkp + c * vkq;
                }
            }
        }
    }
    (m.diag().to_owned(), v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jacobi_diagonalizes_a_symmetric_matrix() {
        let a = ndarray::array![[4.0, 1.0, 0.5], [1.0, 3.0, -0.2], [0.5, -0.2, 1.0]];
        let (w, v) = symmetric_eigen(&a);
        // A V = V diag(w), VᵀV = I
        let av = a.dot(&v);
        for j in 0..3 {
            for i in 0..3 {
                assert!((av[[i, j]] - v[[i, j]] * w[j]).abs() < 1e-12);
            }
        }
        let vtv = v.t().dot(&v);
        assert!((vtv - Array2::<f64>::eye(3)).iter().all(|x| x.abs() < 1e-12));
        assert!((w.sum() - 8.0).abs() < 1e-12);
    }

    #[test]
    fn the_pca_prior_reproduces_its_images_and_is_seeded() {
        let d = crate::data::digits::Digits::bundled().unwrap();
        let p = Prior::fit_pca(d.x.view(), 16).unwrap();
        let Prior::Pca { mean, basis, variance_share } = &p else { panic!() };
        assert_eq!(basis.dim(), (64, 16));
        assert!(*variance_share > 0.7 && *variance_share < 1.0, "{variance_share}");
        // the latent code of an image, decoded, is its projection: closer to it than the mean is
        let x = d.x.row(0);
        let z = basis.t().dot(&(&x - mean)) / basis.map_axis(Axis(0), |c| c.dot(&c));
        let back = p.decode_one(z.view());
        let err = (&back - &x).mapv(|v| v * v).sum();
        assert!(err < 0.5 * (&x - mean).mapv(|v| v * v).sum(), "reconstruction error {err}");
        let rng = Philox::new(3);
        assert_eq!(p.sample(&rng, 1, 2), p.sample(&rng, 1, 2));
        assert!(p.sample(&rng, 1, 2).iter().all(|v| v.abs() <= LATENT_CLAMP));
        assert!(Prior::fit_pca(d.x.view(), 0).is_err());
    }
}
