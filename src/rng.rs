//! The one random-number scheme of the project: Philox4x32-10 (Salmon et al., SC'11), a counter-based
//! generator. A draw is a pure function of (seed, stream, index), so results do not depend on thread
//! count, sharding or evaluation order; the CUDA kernels implement the same function.

const PHILOX_M0: u32 = 0xD251_1F53;
const PHILOX_M1: u32 = 0xCD9E_8D57;
const PHILOX_W0: u32 = 0x9E37_79B9;
const PHILOX_W1: u32 = 0xBB67_AE85;

/// Philox4x32 with 10 rounds: maps a 128-bit counter and a 64-bit key to 128 random bits.
pub fn philox4x32_10(counter: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let mut c = counter;
    let mut k = key;
    for round in 0..10 {
        if round > 0 {
            k[0] = k[0].wrapping_add(PHILOX_W0);
            k[1] = k[1].wrapping_add(PHILOX_W1);
        }
        let p0 = (PHILOX_M0 as u64) * (c[0] as u64);
        let p1 = (PHILOX_M1 as u64) * (c[2] as u64);
        c = [
            ((p1 >> 32) as u32) ^ c[1] ^ k[0],
            p1 as u32,
            ((p0 >> 32) as u32) ^ c[3] ^ k[1],
            p0 as u32,
        ];
    }
    c
}

/// A seeded stream family: `block(stream, index)` gives 128 fresh bits for every distinct pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Philox {
    key: [u32; 2],
}

impl Philox {
    /// The generator keyed by `seed`.
    pub fn new(seed: u64) -> Self {
        Philox { key: [seed as u32, (seed >> 32) as u32] }
    }

    /// Four 32-bit words for the counter (stream, index).
    pub fn block(&self, stream: u64, index: u64) -> [u32; 4] {
        philox4x32_10([index as u32, (index >> 32) as u32, stream as u32, (stream >> 32) as u32], self.key)
    }

    /// Two uniforms in the open interval (0, 1) (24-bit resolution is not enough for tails; 32-bit
    /// words are combined pairwise into 52-bit fractions).
    pub fn uniform_pair(&self, stream: u64, index: u64) -> [f64; 2] {
        let w = self.block(stream, index);
        [open_unit(w[0], w[1]), open_unit(w[2], w[3])]
    }

    /// Two independent standard normals for (stream, index) by the Box–Muller transform.
    pub fn normal_pair(&self, stream: u64, index: u64) -> [f64; 2] {
        let [u1, u2] = self.uniform_pair(stream, index);
        let r = (-2.0 * u1.ln()).sqrt();
        let (s, c) = (std::f64::consts::TAU * u2).sin_cos();
        [r * c, r * s]
    }

    /// A uniform in [lo, hi).
    pub fn uniform_in(&self, stream: u64, index: u64, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * (self.uniform_pair(stream, index)[0] - f64::EPSILON / 4.0).max(0.0)
    }

    /// Fill `out` with standard normals of (stream, indices start..): entry i uses pair index
    /// (start + i) / 2.
    pub fn fill_normal(&self, stream: u64, start: u64, out: &mut [f64]) {
        for (i, chunk) in out.chunks_mut(2).enumerate() {
            let z = self.normal_pair(stream, start / 2 + i as u64);
            for (o, v) in chunk.iter_mut().zip(z) {
                *o = v;
            }
        }
    }
}

/// (hi·2²⁰ + lo>>12 + ½)·2⁻⁵²: a uniform on the 2⁵² midpoints of (0, 1), never 0 or 1 (every value is
/// exact in binary64).
fn open_unit(hi: u32, lo: u32) -> f64 {
    let bits52 = ((hi as u64) << 20) | ((lo as u64) >> 12);
    (bits52 as f64 + 0.5) * (1.0 / (1u64 << 52) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn philox_matches_random123_known_answers() {
        // Known-answer vectors from Random123's kat_vectors for philox4x32_10.
        assert_eq!(philox4x32_10([0, 0, 0, 0], [0, 0]), [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]);
        assert_eq!(
            philox4x32_10([0xffffffff; 4], [0xffffffff; 2]),
            [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]
        );
        assert_eq!(
            philox4x32_10([0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0]),
            [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1]
        );
    }

    #[test]
    fn normals_have_unit_moments() {
        let g = Philox::new(7);
        let n = 200_000;
        let mut v = vec![0.0; n];
        g.fill_normal(3, 0, &mut v);
        let mean = v.iter().sum::<f64>() / n as f64;
        let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.01, "mean {mean}");
        assert!((var - 1.0).abs() < 0.01, "var {var}");
    }

    #[test]
    fn uniform_is_open() {
        assert!(open_unit(0, 0) > 0.0);
        assert!(open_unit(u32::MAX, u32::MAX) < 1.0);
    }
}
