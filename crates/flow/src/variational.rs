//! Variational refinement of a dense flow (Brox et al. 2004's energy, linearised around the
//! current flow, as OpenCV's VariationalRefinement describes it): brightness constancy
//! (weight delta) and gradient constancy (gamma), each normalised by the local gradient's
//! size, and smoothness (alpha), all under the robust penaliser sqrt(s^2 + eps^2); solved for
//! an increment by fixed-point iterations (the robust weights frozen in each) of red-black SOR.

use rayon::prelude::*;

use crate::gradients::gradients;
use crate::simd::kernel;
use crate::DisParams;

/// Robust penaliser's epsilon and the normalisation's zeta (OpenCV's, for 0..255 images).
const EPS: f32 = 0.001;
const ZETA: f32 = 0.1;
/// SOR sweeps in each fixed-point iteration, and over-relaxation.
const SOR_ITERATIONS: usize = 5;
const OMEGA: f32 = 1.6;

/// Ψ'(s²) = 1 / (2 sqrt(s² + eps²)).
#[inline]
fn robust(s2: f32) -> f32 {
    0.5 / (s2 + EPS * EPS).sqrt()
}

pub(crate) fn refine(
    i0: &[f32],
    i1: &[f32],
    w: usize,
    h: usize,
    u: &mut [f32],
    v: &mut [f32],
    params: &DisParams,
) {
    let n = w * h;
    // I1 warped by the current flow.
    let mut i1w = vec![0.0f32; n];
    i1w.par_chunks_mut(w).enumerate().for_each(|(y, row)| {
        for (x, o) in row.iter_mut().enumerate() {
            let i = y * w + x;
            *o = crate::bilinear(i1, w, h, x as f32 + u[i], y as f32 + v[i]);
        }
    });
    let mean: Vec<f32> = i0.iter().zip(&i1w).map(|(a, b)| 0.5 * (a + b)).collect();
    let (ix, iy) = gradients(&mean, w, h);
    let (ixx, ixy) = gradients(&ix, w, h);
    let (_, iyy) = gradients(&iy, w, h);
    let (i0x, i0y) = gradients(i0, w, h);
    let (i1x, i1y) = gradients(&i1w, w, h);
    // The constancy residuals at the current flow.
    let iz: Vec<f32> = i1w.iter().zip(i0).map(|(a, b)| a - b).collect();
    let ixz: Vec<f32> = i1x.iter().zip(&i0x).map(|(a, b)| a - b).collect();
    let iyz: Vec<f32> = i1y.iter().zip(&i0y).map(|(a, b)| a - b).collect();
    drop((i1w, mean, i0x, i0y, i1x, i1y));
    // Where the flow leaves the frame there is nothing to compare: no data terms there, the
    // smoothness term carries the flow in from the pixels that stay.
    let (mut ix, mut iy, mut iz) = (ix, iy, iz);
    let (mut ixx, mut ixy, mut iyy, mut ixz, mut iyz) = (ixx, ixy, iyy, ixz, iyz);
    for i in 0..n {
        let (x, y) = ((i % w) as f32 + u[i], (i / w) as f32 + v[i]);
        if !crate::inside(w, h, x, y) {
            for a in [
                &mut ix, &mut iy, &mut iz, &mut ixx, &mut ixy, &mut iyy, &mut ixz, &mut iyz,
            ] {
                a[i] = 0.0;
            }
        }
    }
    let image = Derivatives {
        ix: &ix,
        iy: &iy,
        iz: &iz,
        ixx: &ixx,
        ixy: &ixy,
        iyy: &iyy,
        ixz: &ixz,
        iyz: &iyz,
    };

    // The flow with its increment, u + du and v + dv, in the frame's layout.
    let mut uu = u.to_vec();
    let mut vv = v.to_vec();
    // Smoothness weight of the edges to the right and down neighbours.
    let mut smooth = vec![0.0f32; n];
    let grid = Checkerboard::new(w, h);
    let mut coef = [grid.coefficients(), grid.coefficients()];
    let mut pdu = [grid.zeros(), grid.zeros()];
    let mut pdv = [grid.zeros(), grid.zeros()];
    for _ in 0..params.refinement_iterations {
        smooth.par_chunks_mut(w).enumerate().for_each(|(y, row)| {
            let r0 = y * w..(y + 1) * w;
            let r1 = if y + 1 < h {
                r0.start + w..r0.end + w
            } else {
                r0.clone()
            };
            let (u0, v0, u1, v1) = (&uu[r0.clone()], &vv[r0], &uu[r1.clone()], &vv[r1]);
            for x in 0..w {
                let xr = (x + 1).min(w - 1);
                let (ux, uy) = (u0[xr] - u0[x], u1[x] - u0[x]);
                let (vx, vy) = (v0[xr] - v0[x], v1[x] - v0[x]);
                row[x] = params.alpha * robust(ux * ux + uy * uy + vx * vx + vy * vy);
            }
        });
        let (c0, c1) = coef.split_at_mut(1);
        grid.fill(
            [&mut c0[0], &mut c1[0]],
            &image,
            (u, v),
            (&uu, &vv),
            &smooth,
            params,
        );
        for c in 0..2 {
            grid.pack(&uu, u, c, &mut pdu[c]);
            grid.pack(&vv, v, c, &mut pdv[c]);
        }
        for _ in 0..SOR_ITERATIONS {
            for (c, coef) in coef.iter().enumerate() {
                let (own_u, other_u) = split(&mut pdu, c);
                let (own_v, other_v) = split(&mut pdv, c);
                grid.sweep(c, coef, own_u, own_v, other_u, other_v);
            }
        }
        for c in 0..2 {
            grid.unpack(&pdu[c], u, c, &mut uu);
            grid.unpack(&pdv[c], v, c, &mut vv);
        }
    }
    u.copy_from_slice(&uu);
    v.copy_from_slice(&vv);
}

/// The linearised data terms' inputs: the average image's first and second derivatives,
/// and the brightness and gradient differences between I1 warped and I0.
struct Derivatives<'a> {
    ix: &'a [f32],
    iy: &'a [f32],
    iz: &'a [f32],
    ixx: &'a [f32],
    ixy: &'a [f32],
    iyy: &'a [f32],
    ixz: &'a [f32],
    iyz: &'a [f32],
}

/// The colour `c` buffer mutably and the other one shared.
fn split(pair: &mut [Vec<f32>; 2], c: usize) -> (&mut [f32], &[f32]) {
    let (a, b) = pair.split_at_mut(1);
    if c == 0 {
        (&mut a[0], &b[0])
    } else {
        (&mut b[0], &a[0])
    }
}

/// Red-black ordering: pixel (x, y) has colour (x + y) % 2, and each colour's pixels are
/// packed row by row, `stride` a row with one unused slot before and after, so that one
/// colour's update reads its four neighbours (all of the other colour) as contiguous slices:
/// in row y, colour c's pixels start at x = (y + c) % 2 =: off, the i-th one's left and right
/// neighbours are the other colour's slots i + off and i + off + 1 (counting the padding),
/// and those above and below are slot i + 1 of the rows y - 1 and y + 1.
struct Checkerboard {
    w: usize,
    h: usize,
    stride: usize,
}

/// What one colour's SOR update needs, packed like its pixels, FIELDS rows of `stride` for
/// each row of the frame: a12; sum over neighbours n of weight_n (u_n - u) - b1, and the same
/// for v; 1 / (a11 + sum of weights), 1 / (a22 + sum of weights); the smoothness weights to
/// the left, right, upper and lower neighbours (0 off the frame).
const FIELDS: usize = 9;
const A12: usize = 0;
const CU: usize = 1;
const CV: usize = 2;
const INV_U: usize = 3;
const INV_V: usize = 4;
const LEFT: usize = 5;
const RIGHT: usize = 6;
const UP: usize = 7;
const DOWN: usize = 8;

impl Checkerboard {
    fn new(w: usize, h: usize) -> Checkerboard {
        Checkerboard {
            w,
            h,
            stride: w.div_ceil(2) + 2,
        }
    }

    fn zeros(&self) -> Vec<f32> {
        vec![0.0; self.stride * self.h]
    }

    fn coefficients(&self) -> Vec<f32> {
        vec![0.0; FIELDS * self.stride * self.h]
    }

    /// Colour c's first x in row y, and its count of pixels there.
    #[inline]
    fn row(&self, y: usize, c: usize) -> (usize, usize) {
        let off = (y + c) % 2;
        (off, (self.w + 1 - off) / 2)
    }

    /// Colour c's increments `full - base`, packed.
    fn pack(&self, full: &[f32], base: &[f32], c: usize, packed: &mut [f32]) {
        packed
            .par_chunks_mut(self.stride)
            .enumerate()
            .with_min_len(16)
            .for_each(|(y, dst)| {
                let (off, count) = self.row(y, c);
                let (f, b) = (&full[y * self.w..][..self.w], &base[y * self.w..][..self.w]);
                for (i, d) in dst[1..1 + count].iter_mut().enumerate() {
                    *d = f[off + 2 * i] - b[off + 2 * i];
                }
            });
    }

    /// `full = base + increments` at colour c's pixels.
    fn unpack(&self, packed: &[f32], base: &[f32], c: usize, full: &mut [f32]) {
        full.par_chunks_mut(self.w)
            .enumerate()
            .with_min_len(16)
            .for_each(|(y, row)| {
                let (off, count) = self.row(y, c);
                let src = &packed[y * self.stride + 1..][..count];
                let b = &base[y * self.w..][..self.w];
                for (i, s) in src.iter().enumerate() {
                    row[off + 2 * i] = b[off + 2 * i] + s;
                }
            });
    }

    /// Both colours' coefficients for this fixed-point iteration: the data terms' robust
    /// weights at the current increment, and the smoothness weights. Each row is computed in
    /// the frame's layout (a loop the compiler vectorises), then split by colour.
    #[allow(clippy::too_many_arguments)]
    fn fill(
        &self,
        coef: [&mut Vec<f32>; 2],
        d: &Derivatives,
        (u, v): (&[f32], &[f32]),
        (uu, vv): (&[f32], &[f32]),
        smooth: &[f32],
        params: &DisParams,
    ) {
        let (w, h, s) = (self.w, self.h, self.stride);
        let [c0, c1] = coef;
        c0.par_chunks_mut(FIELDS * s)
            .zip(c1.par_chunks_mut(FIELDS * s))
            .enumerate()
            .with_min_len(4)
            .for_each_init(
                || vec![0.0f32; (FIELDS + 6) * w],
                |t, (y, (k0, k1))| {
                    let r = y * w..(y + 1) * w;
                    let up = if y > 0 {
                        r.start - w..r.end - w
                    } else {
                        r.clone()
                    };
                    let down = if y + 1 < h {
                        r.start + w..r.end + w
                    } else {
                        r.clone()
                    };
                    let (sm, smu) = (&smooth[r.clone()], &smooth[up.clone()]);
                    let (wu_on, wd_on) = ((y > 0) as u8 as f32, (y + 1 < h) as u8 as f32);
                    let (u0, v0) = (&u[r.clone()], &v[r.clone()]);
                    let (uu0, vv0) = (&uu[r.clone()], &vv[r.clone()]);
                    let (u_up, v_up) = (&u[up.clone()], &v[up]);
                    let (u_dn, v_dn) = (&u[down.clone()], &v[down]);
                    let (ix, iy, iz) = (&d.ix[r.clone()], &d.iy[r.clone()], &d.iz[r.clone()]);
                    let (ixx, ixy) = (&d.ixx[r.clone()], &d.ixy[r.clone()]);
                    let (iyy, ixz, iyz) = (&d.iyy[r.clone()], &d.ixz[r.clone()], &d.iyz[r]);
                    // The neighbours' weights and base flows along the row (the pixel itself
                    // with weight 0 where there is none).
                    let (fields, t) = t.split_at_mut(FIELDS * w);
                    let (left, rest) = t.split_at_mut(w);
                    let (right, rest) = rest.split_at_mut(w);
                    let (ul, rest) = rest.split_at_mut(w);
                    let (ur, rest) = rest.split_at_mut(w);
                    let (vl, vr) = rest.split_at_mut(w);
                    let vr = &mut vr[..w];
                    // Shifted copies (levels are at least a patch, 2 pixels, wide).
                    left[0] = 0.0;
                    left[1..].copy_from_slice(&sm[..w - 1]);
                    right[..w - 1].copy_from_slice(&sm[..w - 1]);
                    right[w - 1] = 0.0;
                    for (l, r, row) in [(&mut *ul, &mut *ur, u0), (&mut *vl, &mut *vr, v0)] {
                        l[0] = row[0];
                        l[1..w].copy_from_slice(&row[..w - 1]);
                        r[..w - 1].copy_from_slice(&row[1..]);
                        r[w - 1] = row[w - 1];
                    }
                    let (a12_, rest) = fields.split_at_mut(w);
                    let (cu_, rest) = rest.split_at_mut(w);
                    let (cv_, rest) = rest.split_at_mut(w);
                    let (iu_, rest) = rest.split_at_mut(w);
                    let (iv_, rest) = rest.split_at_mut(w);
                    let (wu_, wd_) = rest[2 * w..].split_at_mut(w);
                    let inputs = RowInputs {
                        sm,
                        smu,
                        u0,
                        v0,
                        uu0,
                        vv0,
                        u_up,
                        v_up,
                        u_dn,
                        v_dn,
                        ix,
                        iy,
                        iz,
                        ixx,
                        ixy,
                        iyy,
                        ixz,
                        iyz,
                        left,
                        right,
                        ul,
                        ur,
                        vl,
                        vr,
                        wu_on,
                        wd_on,
                        delta: params.delta,
                        gamma: params.gamma,
                    };
                    data_row(&inputs, a12_, cu_, cv_, iu_, iv_, wu_, &mut wd_[..w]);
                    fields[LEFT * w..(LEFT + 1) * w].copy_from_slice(left);
                    fields[RIGHT * w..(RIGHT + 1) * w].copy_from_slice(right);
                    // Split by colour: slot 1 + x / 2 of colour (x + y) % 2.
                    let (even, odd) = if y % 2 == 0 { (k0, k1) } else { (k1, k0) };
                    for f in 0..FIELDS {
                        split_row(
                            &fields[f * w..(f + 1) * w],
                            &mut even[f * s + 1..][..w.div_ceil(2)],
                            &mut odd[f * s + 1..][..w / 2],
                        );
                    }
                },
            );
    }

    /// One over-relaxed Gauss-Seidel pass over colour c's pixels (the other colour fixed, so
    /// rows run in parallel).
    fn sweep(
        &self,
        c: usize,
        coef: &[f32],
        du: &mut [f32],
        dv: &mut [f32],
        other_u: &[f32],
        other_v: &[f32],
    ) {
        let (s, h) = (self.stride, self.h);
        du.par_chunks_mut(s)
            .zip(dv.par_chunks_mut(s))
            .zip(coef.par_chunks(FIELDS * s))
            .enumerate()
            .with_min_len(8)
            .for_each(|(y, ((du, dv), k))| {
                let (off, n) = self.row(y, c);
                // Off the frame the weights are 0: any row will do.
                let (up, down) = (y.saturating_sub(1), (y + 1).min(h - 1));
                let at = y * s;
                let ou = &other_u[at..at + s];
                let ov = &other_v[at..at + s];
                let (uu, ud) = (&other_u[up * s + 1..][..n], &other_u[down * s + 1..][..n]);
                let (vu, vd) = (&other_v[up * s + 1..][..n], &other_v[down * s + 1..][..n]);
                let (ul, ur) = (&ou[off..off + n], &ou[off + 1..off + 1 + n]);
                let (vl, vr) = (&ov[off..off + n], &ov[off + 1..off + 1 + n]);
                let (du, dv) = (&mut du[1..1 + n], &mut dv[1..1 + n]);
                let f = |field: usize| &k[field * s + 1..][..n];
                let (a12, cu, cv) = (f(A12), f(CU), f(CV));
                let (iu, iv) = (f(INV_U), f(INV_V));
                let (wl, wr, wu, wd) = (f(LEFT), f(RIGHT), f(UP), f(DOWN));
                sweep_row(
                    du,
                    dv,
                    [ul, ur, uu, ud],
                    [vl, vr, vu, vd],
                    [a12, cu, cv, iu, iv],
                    [wl, wr, wu, wd],
                );
            });
    }
}

/// One row's inputs to [`data_row`].
struct RowInputs<'a> {
    sm: &'a [f32],
    smu: &'a [f32],
    u0: &'a [f32],
    v0: &'a [f32],
    uu0: &'a [f32],
    vv0: &'a [f32],
    u_up: &'a [f32],
    v_up: &'a [f32],
    u_dn: &'a [f32],
    v_dn: &'a [f32],
    ix: &'a [f32],
    iy: &'a [f32],
    iz: &'a [f32],
    ixx: &'a [f32],
    ixy: &'a [f32],
    iyy: &'a [f32],
    ixz: &'a [f32],
    iyz: &'a [f32],
    left: &'a [f32],
    right: &'a [f32],
    ul: &'a [f32],
    ur: &'a [f32],
    vl: &'a [f32],
    vr: &'a [f32],
    wu_on: f32,
    wd_on: f32,
    delta: f32,
    gamma: f32,
}

kernel! {
/// A row's a12, cu, cv, inv_u, inv_v, up and down weights in the frame's layout.
fn data_row(
    r: &RowInputs,
    a12_: &mut [f32],
    cu_: &mut [f32],
    cv_: &mut [f32],
    iu_: &mut [f32],
    iv_: &mut [f32],
    wu_: &mut [f32],
    wd_: &mut [f32],
) {
    let w = a12_.len();
    // Each slice cut to w so the loop needs no bounds checks.
    let (sm, smu) = (&r.sm[..w], &r.smu[..w]);
    let (u0, v0, uu0, vv0) = (&r.u0[..w], &r.v0[..w], &r.uu0[..w], &r.vv0[..w]);
    let (u_up, v_up, u_dn, v_dn) = (&r.u_up[..w], &r.v_up[..w], &r.u_dn[..w], &r.v_dn[..w]);
    let (ix, iy, iz) = (&r.ix[..w], &r.iy[..w], &r.iz[..w]);
    let (ixx, ixy, iyy) = (&r.ixx[..w], &r.ixy[..w], &r.iyy[..w]);
    let (ixz, iyz) = (&r.ixz[..w], &r.iyz[..w]);
    let (left, right) = (&r.left[..w], &r.right[..w]);
    let (ul, ur, vl, vr) = (&r.ul[..w], &r.ur[..w], &r.vl[..w], &r.vr[..w]);
    let (cu_, cv_, iu_, iv_) = (&mut cu_[..w], &mut cv_[..w], &mut iu_[..w], &mut iv_[..w]);
    let (wu_, wd_) = (&mut wu_[..w], &mut wd_[..w]);
    let (delta, gamma, wu_on, wd_on) = (r.delta, r.gamma, r.wu_on, r.wd_on);
    for x in 0..w {
        let (a, b) = (uu0[x] - u0[x], vv0[x] - v0[x]);
        let (gx, gy, gz) = (ix[x], iy[x], iz[x]);
        let (gxx, gxy, gyy) = (ixx[x], ixy[x], iyy[x]);
        let (gxz, gyz) = (ixz[x], iyz[x]);
        let ni = gx * gx + gy * gy + ZETA * ZETA;
        let ri = gz + gx * a + gy * b;
        let wi = delta * robust(ri * ri / ni) / ni;
        let ngx = gxx * gxx + gxy * gxy + ZETA * ZETA;
        let rgx = gxz + gxx * a + gxy * b;
        let wgx = gamma * robust(rgx * rgx / ngx) / ngx;
        let ngy = gxy * gxy + gyy * gyy + ZETA * ZETA;
        let rgy = gyz + gxy * a + gyy * b;
        let wgy = gamma * robust(rgy * rgy / ngy) / ngy;
        let a11 = wi * gx * gx + wgx * gxx * gxx + wgy * gxy * gxy;
        let a12 = wi * gx * gy + wgx * gxx * gxy + wgy * gxy * gyy;
        let a22 = wi * gy * gy + wgx * gxy * gxy + wgy * gyy * gyy;
        let b1 = wi * gx * gz + wgx * gxx * gxz + wgy * gxy * gyz;
        let b2 = wi * gy * gz + wgx * gxy * gxz + wgy * gyy * gyz;
        let (wl, wr) = (left[x], right[x]);
        let (wu, wd) = (wu_on * smu[x], wd_on * sm[x]);
        let sw = wl + wr + wu + wd;
        // The base flow's differences (the increments' are the update's).
        let (bu, bv) = (u0[x], v0[x]);
        let cu = wl * (ul[x] - bu) + wr * (ur[x] - bu) + wu * (u_up[x] - bu) + wd * (u_dn[x] - bu);
        let cv = wl * (vl[x] - bv) + wr * (vr[x] - bv) + wu * (v_up[x] - bv) + wd * (v_dn[x] - bv);
        a12_[x] = a12;
        cu_[x] = cu - b1;
        cv_[x] = cv - b2;
        iu_[x] = 1.0 / (a11 + sw);
        iv_[x] = 1.0 / (a22 + sw);
        wu_[x] = wu;
        wd_[x] = wd;
    }
}
}

kernel! {
/// One row of a colour's SOR update: `du` and `dv` from the other colour's neighbours
/// (left, right, up, down), the coefficients (a12, cu, cv, inv_u, inv_v) and the weights.
fn sweep_row(
    du: &mut [f32],
    dv: &mut [f32],
    un: [&[f32]; 4],
    vn: [&[f32]; 4],
    k: [&[f32]; 5],
    wn: [&[f32]; 4],
) {
    let n = du.len();
    let dv = &mut dv[..n];
    let [ul, ur, uu, ud] = un.map(|s| &s[..n]);
    let [vl, vr, vu, vd] = vn.map(|s| &s[..n]);
    let [a12, cu, cv, iu, iv] = k.map(|s| &s[..n]);
    let [wl, wr, wu, wd] = wn.map(|s| &s[..n]);
    for i in 0..n {
        let nu = (cu[i] + wl[i] * ul[i] + wr[i] * ur[i] + wu[i] * uu[i] + wd[i] * ud[i]
            - a12[i] * dv[i])
            * iu[i];
        du[i] += OMEGA * (nu - du[i]);
        let nv = (cv[i] + wl[i] * vl[i] + wr[i] * vr[i] + wu[i] * vu[i] + wd[i] * vd[i]
            - a12[i] * du[i])
            * iv[i];
        dv[i] += OMEGA * (nv - dv[i]);
    }
}
}

kernel! {
/// A row's even and odd pixels apart.
fn split_row(src: &[f32], even: &mut [f32], odd: &mut [f32]) {
    for (i, e) in even.iter_mut().enumerate() {
        *e = src[2 * i];
    }
    for (i, o) in odd.iter_mut().enumerate() {
        *o = src[2 * i + 1];
    }
}
}
