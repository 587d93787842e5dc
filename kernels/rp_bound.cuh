// The per-row arithmetic of the bound backend's kernels (bound.cu), line by line the CPU's
// (src/rigor.rs, src/bound/linear.rs, src/bound/ibp.rs): the same rounding-error terms in the same
// order, so every step keeps CROWN-1/IBP-1 on the device (GPU-4 in proofs/GPU.md). Compiles as CUDA
// (NVRTC, --fmad=false) and as plain C++ (the CPU mirror test in tests/kernels.rs, -ffp-contract=off),
// which checks these functions against the CPU's results. Every index is 64-bit.
#pragma once

#define RP_U (1.1102230246251565e-16)  // unit roundoff 2^-53

RP_FN double rp_min_subnormal() { return rp_from_bits(1ull); }

// rigor::up: the next double toward +inf (NaN and +inf unchanged, ±0 -> the least subnormal).
RP_FN double rp_up(double x) {
    rp_u64 b = rp_bits(x);
    if (x != x || b == 0x7ff0000000000000ull) return x;
    if ((b & 0x7fffffffffffffffull) == 0ull) return rp_min_subnormal();
    return rp_from_bits((b >> 63) ? b - 1ull : b + 1ull);
}

// rigor::down: the next double toward -inf.
RP_FN double rp_down(double x) { return -rp_up(-x); }

RP_FN double rp_gamma(rp_u64 n) { return 2.0 * (double)n * RP_U; }

RP_FN double rp_dot_error(rp_u64 n, double abs_sum_up) {
    return rp_up(rp_up(rp_gamma(n) * abs_sum_up) + (double)n * rp_min_subnormal());
}

RP_FN double rp_nonneg_dot_upper(double fl, rp_u64 n) {
    return rp_up(rp_up(fl + (double)n * rp_min_subnormal()) * (1.0 + 2.0 * rp_gamma(n)));
}

RP_FN double rp_add_error(double sum) { return rp_up(RP_U * (sum < 0.0 ? -sum : sum)); }

RP_FN double rp_abs(double x) { return x < 0.0 ? -x : x; }

// max as Rust's f64::max (the non-NaN operand when one is NaN)
RP_FN double rp_max(double a, double b) { return (a != a) ? b : (b != b) ? a : (a > b ? a : b); }

// linear::finish: down(down(dot + c) - penalty), NaN -> -inf.
RP_FN double rp_finish(double dot, double c, double penalty) {
    double v = rp_down(rp_down(dot + c) - penalty);
    return (v != v) ? -1.0 / 0.0 : v;
}

// linear::abs_weighted_sum: sum |a_j| w_j with four accumulators.
RP_FN double rp_abs_weighted_sum(const double* a, const double* w, rp_u64 n) {
    double acc[4] = {0.0, 0.0, 0.0, 0.0};
    rp_u64 full = n - n % 4;
    for (rp_u64 j = 0; j < full; j += 4)
        for (int k = 0; k < 4; ++k) acc[k] += rp_abs(a[j + k]) * w[j + k];
    double tail = 0.0;
    for (rp_u64 j = full; j < n; ++j) tail += rp_abs(a[j]) * w[j];
    return (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail;
}

// The affine step's scalars of one row (LinearBatch::through_affine), on the coefficients before the
// product: s_w = sum |coef|·weight_mag, s_b = sum |coef|·|b|, the constant gains coef·b.
RP_FN void rp_affine_slack_row(const double* row, rp_u64 m, const double* wm, const double* abs_bias, const double* bias, double tail, double* constant, double* slack) {
    double s_w = rp_abs_weighted_sum(row, wm, m);
    double s_b = rp_abs_weighted_sum(row, abs_bias, m);
    double bias_term = 0.0;
    for (rp_u64 j = 0; j < m; ++j) bias_term += row[j] * bias[j];
    double w_err = rp_up(rp_up(rp_gamma(m) * rp_nonneg_dot_upper(s_w, m)) + tail);
    double b_err = rp_dot_error(m, rp_nonneg_dot_upper(s_b, m));
    double c = *constant + bias_term;
    *constant = c;
    *slack = rp_up(rp_up(rp_up(*slack + w_err) + b_err) + rp_add_error(c));
}

// The ReLU step of one row (LinearBatch::through_relu); per-neuron arrays are the row's owner's.
RP_FN void rp_relu_row(double* row, rp_u64 n, const unsigned char* unstable, const double* pos_mult, const double* neg_mult,
                       const double* neg_intercept, const double* keep, const double* mag, double mag_sum, double* constant, double* slack) {
    double abs_mul_mag = 0.0, intercepts = 0.0, abs_intercepts = 0.0;
    rp_u64 count = 0;
    for (rp_u64 j = 0; j < n; ++j) {
        double lam = row[j];
        if (unstable[j]) {
            count += 1;
            int neg = lam < 0.0;
            double mult = neg ? neg_mult[j] : pos_mult[j];
            double t = neg ? neg_intercept[j] : 0.0;
            double prod = lam * mult;
            abs_mul_mag += rp_abs(prod * mag[j]);
            double lt = lam * t;
            intercepts += lt;
            abs_intercepts += rp_abs(lt);
            row[j] = prod * keep[j];
        } else {
            row[j] = lam * keep[j];
        }
    }
    if (count == 0) return;
    double mul_err = rp_up(rp_up(RP_U * rp_nonneg_dot_upper(abs_mul_mag, count)) + rp_up(rp_min_subnormal() * mag_sum));
    double c = *constant + intercepts;
    *constant = c;
    double t_err = rp_dot_error(count, rp_nonneg_dot_upper(abs_intercepts, count));
    *slack = rp_up(rp_up(rp_up(*slack + mul_err) + t_err) + rp_add_error(c));
}

// linear::dual_norm_up: an upper bound of ||a||_q (norm 0 = linf -> q = 1, 1 = l2, 2 = l1 -> q = inf).
RP_FN double rp_dual_norm_up(int norm, const double* a, rp_u64 n) {
    if (norm == 0) {
        double s = 0.0;
        for (rp_u64 j = 0; j < n; ++j) s += rp_abs(a[j]);
        return rp_nonneg_dot_upper(s, n);
    }
    if (norm == 1) {
        double s = 0.0;
        for (rp_u64 j = 0; j < n; ++j) s += a[j] * a[j];
        return rp_up(rp_sqrt(rp_nonneg_dot_upper(s, n)));
    }
    double m = 0.0;
    for (rp_u64 j = 0; j < n; ++j) m = rp_max(m, rp_abs(a[j]));
    return m;
}

// CROWN-2 over a ball: a·x0 + c - eps·||a||_q - errors (the `ball` closure of LinearBatch::concretize).
RP_FN double rp_ball_min(const double* a, const double* x0, rp_u64 d, double eps, int norm, double c, double s) {
    double dd[4] = {0.0, 0.0, 0.0, 0.0}, ss[4] = {0.0, 0.0, 0.0, 0.0};
    rp_u64 full = d - d % 4;
    for (rp_u64 j = 0; j < full; j += 4)
        for (int k = 0; k < 4; ++k) {
            double v = a[j + k] * x0[j + k];
            dd[k] += v;
            ss[k] += rp_abs(v);
        }
    double dt = 0.0, st = 0.0;
    for (rp_u64 j = full; j < d; ++j) {
        dt += a[j] * x0[j];
        st += rp_abs(a[j] * x0[j]);
    }
    double dot = (dd[0] + dd[1]) + (dd[2] + dd[3]) + dt;
    double abs = (ss[0] + ss[1]) + (ss[2] + ss[3]) + st;
    double err = rp_dot_error(d, rp_nonneg_dot_upper(abs, d));
    double eps_nrm = rp_up(eps * rp_dual_norm_up(norm, a, d));
    return rp_finish(dot, c, rp_up(rp_up(s + err) + eps_nrm));
}

// CROWN-2 over a box (linear::box_min).
RP_FN double rp_box_min(const double* a, const double* lo, const double* hi, rp_u64 d, double c, double s) {
    double dot = 0.0, abs = 0.0;
    for (rp_u64 j = 0; j < d; ++j) {
        double x = a[j] >= 0.0 ? lo[j] : hi[j];
        dot += a[j] * x;
        abs += rp_abs(a[j] * x);
    }
    double err = rp_dot_error(d, rp_nonneg_dot_upper(abs, d));
    return rp_finish(dot, c, rp_up(s + err));
}

// IBP-1 for one output of an affine layer from the products of midpoint and radius (ibp::affine_box).
RP_FN void rp_box_finish_one(double center, double spread, double abs_center, double bias, rp_u64 n_in, double* lo, double* hi) {
    double value = center + bias;
    double pen = rp_up(rp_up(rp_nonneg_dot_upper(spread, n_in) + rp_dot_error(n_in, rp_nonneg_dot_upper(abs_center, n_in))) + rp_add_error(value));
    double l = rp_down(value - pen), u = rp_up(value + pen);
    if (l != l || u != u) { l = -1.0 / 0.0; u = 1.0 / 0.0; }
    *lo = l;
    *hi = u;
}

// IBP-1 for one neuron of the first affine layer over a ball (ibp::first_affine).
RP_FN void rp_ball_finish_one(double center, double abs, double nrm, double eps, double bias, rp_u64 d, double* lo, double* hi) {
    double pen = rp_up(rp_up(eps * nrm) + rp_dot_error(d, rp_nonneg_dot_upper(abs, d)));
    *lo = rp_finish(center, bias, pen);
    *hi = -rp_finish(-center, -bias, pen);
}

// The elementwise step of one row (LinearBatch::through_elementwise): coefficients times the layer's
// representative scale, the shift's products into the constant, every error to the slack.
RP_FN void rp_elementwise_row(double* row, rp_u64 n, const double* scale, const double* shift, const double* scale_err, const double* m,
                              int exact_products, double* constant, double* slack) {
    double c_dot = 0.0, c_abs = 0.0, prod_mag = 0.0, err_mag = 0.0, mag_sum = 0.0;
    for (rp_u64 j = 0; j < n; ++j) {
        double lam = row[j];
        double t = lam * shift[j];
        c_dot += t;
        c_abs += rp_abs(t);
        double p = lam * scale[j];
        prod_mag += rp_abs(p) * m[j];
        err_mag += rp_up(rp_abs(lam) * scale_err[j]) * m[j];
        mag_sum += m[j];
        row[j] = p;
    }
    double s = *slack;
    if (!exact_products) {
        double mul = rp_up(rp_up(RP_U * rp_nonneg_dot_upper(prod_mag, n)) + rp_up(rp_min_subnormal() * rp_nonneg_dot_upper(mag_sum, n)));
        s = rp_up(rp_up(s + mul) + rp_nonneg_dot_upper(err_mag, n));
    }
    double c = *constant + c_dot;
    *constant = c;
    *slack = rp_up(rp_up(s + rp_dot_error(n, rp_nonneg_dot_upper(c_abs, n))) + rp_add_error(c));
}

// The split constraints' Lagrange terms of one row (LinearBatch::add_split_terms, BETA-1).
RP_FN void rp_split_row(double* row, rp_u64 n, const double* signed_beta, const double* mag, double* slack) {
    double err = 0.0;
    rp_u64 count = 0;
    for (rp_u64 j = 0; j < n; ++j) {
        double b = signed_beta[j];
        if (b != 0.0) {
            row[j] -= b;
            err += rp_abs(row[j]) * mag[j];
            count += 1;
        }
    }
    if (count > 0) *slack = rp_up(*slack + rp_up(RP_U * rp_nonneg_dot_upper(err, count)));
}

// One entry of C = A·B (B row-major k × n: column j) or of C = A·Bᵀ (B row-major n × k: row j): the sum
// over q = 0…k−1 in ascending order, each product rounded and then added (no FMA), so the entry depends
// on row i of A and on B only — never on the other rows of the batch or on its size (GPU-5: cuBLAS picks
// its kernel, and with it the summation order, by the matrices' shape). FP-2 bounds its error as any
// other order.
RP_FN double rp_gemm_entry(const double* a_row, rp_u64 k, const double* b, rp_u64 n, rp_u64 j, int b_transposed) {
    double acc = 0.0;
    if (b_transposed) {
        const double* bj = b + j * k;
        for (rp_u64 q = 0; q < k; q++) acc += a_row[q] * bj[q];
    } else {
        for (rp_u64 q = 0; q < k; q++) acc += a_row[q] * b[q * n + j];
    }
    return acc;
}

// Entry c of row `row` of linear.rs's signed rows for a pair whose neuron is j: row 2k is +, 2k+1 is −;
// with `affine`, ±W_j (W row-major, n columns: signed_affine_rows, -v as the CPU's mapv(|v| -v)), else
// ±e_j (signed_unit_rows: +0 off the diagonal).
RP_FN double rp_signed_entry(rp_u64 row, rp_u64 c, rp_u64 j, const double* w, rp_u64 n, int affine) {
    int neg = (int)(row & 1ull);
    if (affine) {
        double v = w[j * n + c];
        return neg ? -v : v;
    }
    return c == j ? (neg ? -1.0 : 1.0) : 0.0;
}
