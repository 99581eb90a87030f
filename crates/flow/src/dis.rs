//! Dense inverse search: the pyramid, the patch search, densification.

use rayon::prelude::*;

use crate::gradients::gradients;
use crate::{variational, DisParams, FlowField, Gray};

/// A plane of one pyramid level, intensities scaled to 0..255 (the scale of the paper's
/// densification weights and of refinement's constants).
pub(crate) struct Plane {
    pub w: usize,
    pub h: usize,
    pub data: Vec<f32>,
}

impl Plane {
    /// The frame at scale `s`: each pixel the mean of a 2^s x 2^s block (an incomplete last
    /// row or column of blocks dropped), times 255; the same as halving s times.
    fn binned(g: &Gray, s: usize) -> Plane {
        let b = 1usize << s;
        let (w, h) = (g.width >> s, g.height >> s);
        let scale = 255.0 / (b * b) as f32;
        let mut data = vec![0.0f32; w * h];
        let gw = g.width;
        data.par_chunks_mut(w.max(1)).enumerate().for_each_init(
            || vec![0.0f32; w * b],
            |rows, (y, out)| {
                // The block's rows summed, then each run of b columns.
                let rows = &mut rows[..w * b];
                rows.copy_from_slice(&g.data[y * b * gw..][..w * b]);
                for j in 1..b {
                    let src = &g.data[(y * b + j) * gw..][..w * b];
                    for (r, v) in rows.iter_mut().zip(src) {
                        *r += v;
                    }
                }
                for (o, block) in out.iter_mut().zip(rows.chunks_exact(b)) {
                    *o = scale * block.iter().sum::<f32>();
                }
            },
        );
        Plane { w, h, data }
    }

    /// Half the size, each pixel the mean of a 2x2 block (an odd last row or column dropped),
    /// so a coarse pixel centre x maps to the fine 2x + 0.5.
    fn halved(&self) -> Plane {
        let (w, h) = (self.w / 2, self.h / 2);
        let mut data = vec![0.0f32; w * h];
        let src = &self.data;
        let sw = self.w;
        data.par_chunks_mut(w.max(1))
            .enumerate()
            .for_each(|(y, row)| {
                let r0 = &src[2 * y * sw..][..sw];
                let r1 = &src[(2 * y + 1) * sw..][..sw];
                for (x, o) in row.iter_mut().enumerate() {
                    *o = 0.25 * (r0[2 * x] + r0[2 * x + 1] + r1[2 * x] + r1[2 * x + 1]);
                }
            });
        Plane { w, h, data }
    }
}

/// The automatic coarsest scale: log2 of `2 * width / (5 * patch)`, rounded down (the
/// coarsest level about 2.5 patches wide).
fn auto_coarsest(width: usize, patch: usize) -> usize {
    let ratio = 2.0 * width as f64 / (5.0 * patch as f64);
    if ratio <= 1.0 {
        0
    } else {
        ratio.log2().floor() as usize
    }
}

/// Patch positions along one axis: every `stride` pixels from 0 (at most a patch apart, so
/// that they cover every pixel), plus one touching the far edge when the stride does not land
/// there.
fn positions(len: usize, patch: usize, stride: usize) -> Vec<usize> {
    let stride = stride.min(patch);
    let last = len - patch;
    let mut out: Vec<usize> = (0..=last).step_by(stride).collect();
    if *out.last().unwrap() != last {
        out.push(last);
    }
    out
}

/// `f::<P>(args)` for the level's patch size P (each size compiled on its own, so the
/// patch loops have known lengths).
macro_rules! by_patch_size {
    ($p:expr, $f:ident($($arg:expr),*)) => {
        match $p {
            2 => $f::<2>($($arg),*),
            3 => $f::<3>($($arg),*),
            4 => $f::<4>($($arg),*),
            5 => $f::<5>($($arg),*),
            6 => $f::<6>($($arg),*),
            7 => $f::<7>($($arg),*),
            8 => $f::<8>($($arg),*),
            9 => $f::<9>($($arg),*),
            10 => $f::<10>($($arg),*),
            11 => $f::<11>($($arg),*),
            12 => $f::<12>($($arg),*),
            13 => $f::<13>($($arg),*),
            14 => $f::<14>($($arg),*),
            15 => $f::<15>($($arg),*),
            16 => $f::<16>($($arg),*),
            p => unreachable!("patch size {p} (dis_flow checks 2..=MAX_PATCH)"),
        }
    };
}

/// Flow from `a` to `b` by dense inverse search.
///
/// Frames smaller than a patch get zero flow.
///
/// # Panics
/// If the two frames differ in size or their data does not match their sizes, or `params`
/// has a patch size outside 2..=16 or a stride of 0.
pub fn dis_flow(a: &Gray, b: &Gray, params: &DisParams) -> FlowField {
    assert!(
        a.width == b.width && a.height == b.height,
        "dis_flow: frames of {}x{} and {}x{}",
        a.width,
        a.height,
        b.width,
        b.height
    );
    for g in [a, b] {
        assert_eq!(
            g.data.len(),
            crate::pixels(g.width, g.height),
            "dis_flow: a {}x{} frame holds {} values",
            g.width,
            g.height,
            g.data.len()
        );
    }
    assert!(
        (2..=MAX_PATCH).contains(&params.patch_size) && params.patch_stride >= 1,
        "dis_flow: patch size {} (2 to {MAX_PATCH}) and stride {} (at least 1)",
        params.patch_size,
        params.patch_stride
    );
    // On one of the pool's threads, so the many short parallel loops below start without
    // waking a thread each.
    rayon::scope(|_| flow(a, b, params))
}

fn flow(a: &Gray, b: &Gray, params: &DisParams) -> FlowField {
    let (w, h) = (a.width, a.height);
    let p = params.patch_size;
    let fits = |s: usize| s < usize::BITS as usize && (w >> s) >= p && (h >> s) >= p;
    if !fits(0) {
        return FlowField::zeros(w, h);
    }
    let mut finest = params.finest_scale;
    while !fits(finest) {
        finest -= 1;
    }
    let mut coarsest = params
        .coarsest_scale
        .unwrap_or_else(|| auto_coarsest(w, p))
        .max(finest);
    while !fits(coarsest) {
        coarsest -= 1;
    }

    // The two pyramids, 0..255, from the finest level computed (binned straight from the
    // frame) up.
    let (mut pyr0, mut pyr1) = rayon::join(
        || vec![Plane::binned(a, finest)],
        || vec![Plane::binned(b, finest)],
    );
    for s in finest + 1..=coarsest {
        let i = s - finest;
        let (n0, n1) = rayon::join(|| pyr0[i - 1].halved(), || pyr1[i - 1].halved());
        pyr0.push(n0);
        pyr1.push(n1);
    }

    let mut dense: Option<(Vec<f32>, Vec<f32>, usize, usize)> = None;
    for s in (finest..=coarsest).rev() {
        let (i0, i1) = (&pyr0[s - finest], &pyr1[s - finest]);
        let (lw, lh) = (i0.w, i0.h);
        let (gx, gy) = gradients(&i0.data, lw, lh);
        let xs = positions(lw, p, params.patch_stride);
        let ys = positions(lh, p, params.patch_stride);
        // Each patch starts from the coarser level's dense flow at its centre.
        let mut pu = vec![0.0f32; xs.len() * ys.len()];
        let mut pv = vec![0.0f32; xs.len() * ys.len()];
        if let Some((du, dv, cw, ch)) = &dense {
            for (j, &y) in ys.iter().enumerate() {
                for (i, &x) in xs.iter().enumerate() {
                    let cx = (x as f32 + 0.5 * p as f32) / 2.0 - 0.5;
                    let cy = (y as f32 + 0.5 * p as f32) / 2.0 - 0.5;
                    pu[j * xs.len() + i] = 2.0 * crate::bilinear(du, *cw, *ch, cx, cy);
                    pv[j * xs.len() + i] = 2.0 * crate::bilinear(dv, *cw, *ch, cx, cy);
                }
            }
        }
        let level = Level {
            i0: &i0.data,
            i1: &i1.data,
            gx: &gx,
            gy: &gy,
            w: lw,
            h: lh,
            p,
        };
        search(&level, &xs, &ys, &mut pu, &mut pv, params);
        let (mut u, mut v) = densify(&level, &xs, &ys, &pu, &pv);
        if params.refinement_iterations > 0 {
            variational::refine(&i0.data, &i1.data, lw, lh, &mut u, &mut v, params);
        }
        dense = Some((u, v, lw, lh));
    }
    let (u, v, lw, lh) = dense.expect("at least one scale");
    let f = (1usize << finest) as f32;
    resample(&u, &v, (lw, lh), (w, h), (f, f))
}

/// A flow of `lw x lh` resampled (bilinear) to `w x h`, where a pixel centre x maps to
/// (x + 0.5) / scale - 0.5, and its vectors lengthened by the scale on each axis.
pub(crate) fn resample(
    u: &[f32],
    v: &[f32],
    (lw, lh): (usize, usize),
    (w, h): (usize, usize),
    (sx, sy): (f32, f32),
) -> FlowField {
    if lw == w && lh == h && sx == 1.0 && sy == 1.0 {
        return FlowField {
            width: w,
            height: h,
            u: u.to_vec(),
            v: v.to_vec(),
        };
    }
    let mut out = FlowField::zeros(w, h);
    if w == 0 || h == 0 {
        return out;
    }
    // Where each output column falls between two coarse ones (the same for every row).
    let columns: Vec<(usize, usize, f32)> = (0..w)
        .map(|x| taps((x as f32 + 0.5) / sx - 0.5, lw))
        .collect();
    out.u
        .par_chunks_mut(w)
        .zip(out.v.par_chunks_mut(w))
        .enumerate()
        .for_each_init(
            || (vec![0.0f32; lw], vec![0.0f32; lw]),
            |(tu, tv), (y, (ru, rv))| {
                // The two coarse rows blended (and lengthened), then spread along the row.
                let (y0, y1, fy) = taps((y as f32 + 0.5) / sy - 0.5, lh);
                for (t, src, s) in [(&mut *tu, u, sx), (&mut *tv, v, sy)] {
                    let (a, b) = (&src[y0 * lw..][..lw], &src[y1 * lw..][..lw]);
                    for ((t, a), b) in t.iter_mut().zip(a).zip(b) {
                        *t = s * (a + fy * (b - a));
                    }
                }
                for (x, &(x0, x1, fx)) in columns.iter().enumerate() {
                    ru[x] = tu[x0] + fx * (tu[x1] - tu[x0]);
                    rv[x] = tv[x0] + fx * (tv[x1] - tv[x0]);
                }
            },
        );
    out
}

/// The two samples either side of coordinate `c` on an axis of `len` samples (clamped to
/// the ends), and the weight of the second.
#[inline]
fn taps(c: f32, len: usize) -> (usize, usize, f32) {
    let c = c.clamp(0.0, (len - 1) as f32);
    let i0 = c as usize;
    (i0, (i0 + 1).min(len - 1), c - i0 as f32)
}

/// One pyramid level's inputs to the patch search.
struct Level<'a> {
    i0: &'a [f32],
    i1: &'a [f32],
    gx: &'a [f32],
    gy: &'a [f32],
    w: usize,
    h: usize,
    p: usize,
}

/// A clamped copy of the pixels around a patch that reaches past the frame's edge.
type Window = [f32; (MAX_PATCH + 1) * (MAX_PATCH + 1)];

impl Level<'_> {
    /// The (P+1) x (P+1) pixels of I1 from (x0, y0) on, as a slice and its row stride: the
    /// image itself inside the frame, a copy with clamped coordinates (what `bilinear` does)
    /// in `window` where the patch reaches past an edge.
    #[inline(always)]
    fn source<'a, const P: usize>(
        &'a self,
        x0: f32,
        y0: f32,
        window: &'a mut Window,
    ) -> (&'a [f32], usize) {
        let (w, h) = (self.w, self.h);
        if x0 >= 0.0 && y0 >= 0.0 && x0 + (P as f32) < w as f32 && y0 + (P as f32) < h as f32 {
            let at = y0 as usize * w + x0 as usize;
            (&self.i1[at..at + P * w + P + 1], w)
        } else {
            const S: usize = MAX_PATCH + 1;
            // Beyond ±2^24 the float-to-int cast saturates; clamping happens anyway.
            let (x0, y0) = (x0 as i64, y0 as i64);
            for j in 0..=P {
                let y = (y0 + j as i64).clamp(0, h as i64 - 1) as usize;
                let row = &self.i1[y * w..(y + 1) * w];
                for k in 0..=P {
                    window[j * S + k] = row[(x0 + k as i64).clamp(0, w as i64 - 1) as usize];
                }
            }
            (&window[..P * S + P + 1], S)
        }
    }

    /// Bilinear samples of I1 over the P x P patch whose top-left corner is at (x, y). The
    /// fraction is the same for every pixel of the patch, so away from the edges each row is
    /// four multiply-adds of contiguous slices.
    #[inline(always)]
    fn sample<const P: usize>(&self, x: f32, y: f32, out: &mut [[f32; P]; P]) {
        let (fx0, fy0) = (x.floor(), y.floor());
        let (fx, fy) = (x - fx0, y - fy0);
        let (w00, w01, w10, w11) = (
            (1.0 - fx) * (1.0 - fy),
            fx * (1.0 - fy),
            (1.0 - fx) * fy,
            fx * fy,
        );
        let mut window = [0.0f32; (MAX_PATCH + 1) * (MAX_PATCH + 1)];
        let (src, stride) = self.source::<P>(fx0, fy0, &mut window);
        for (j, o) in out.iter_mut().enumerate() {
            let r0 = &src[j * stride..][..P + 1];
            let r1 = &src[(j + 1) * stride..][..P + 1];
            for k in 0..P {
                o[k] = w00 * r0[k] + w01 * r0[k + 1] + w10 * r1[k] + w11 * r1[k + 1];
            }
        }
    }
}

/// What a patch of I0 needs for the inverse-compositional descent: its pixels and gradients,
/// their sums, and the inverse of its (mean-normalised) Hessian.
struct Template<const P: usize> {
    t: [[f32; P]; P],
    gx: [[f32; P]; P],
    gy: [[f32; P]; P],
    sgx: f32,
    sgy: f32,
    inv: [f32; 3],
}

impl<const P: usize> Template<P> {
    #[inline(always)]
    fn new(level: &Level, x: usize, y: usize, mean_norm: bool) -> Template<P> {
        let mut t = [[0.0f32; P]; P];
        let mut gx = [[0.0f32; P]; P];
        let mut gy = [[0.0f32; P]; P];
        for j in 0..P {
            let at = (y + j) * level.w + x;
            t[j].copy_from_slice(&level.i0[at..at + P]);
            gx[j].copy_from_slice(&level.gx[at..at + P]);
            gy[j].copy_from_slice(&level.gy[at..at + P]);
        }
        let (mut sxx, mut sxy, mut syy, mut sgx, mut sgy) =
            (0.0f32, 0.0f32, 0.0f32, 0.0f32, 0.0f32);
        for j in 0..P {
            for k in 0..P {
                let (a, b) = (gx[j][k], gy[j][k]);
                sxx += a * a;
                sxy += a * b;
                syy += b * b;
                sgx += a;
                sgy += b;
            }
        }
        let n = (P * P) as f32;
        if mean_norm {
            sxx -= sgx * sgx / n;
            sxy -= sgx * sgy / n;
            syy -= sgy * sgy / n;
        }
        // A ridge (Levenberg-Marquardt's damping) keeps patches with little texture from
        // taking wild steps: as if each pixel had 1.7 more grey levels a pixel of gradient.
        // Chosen on bench/flow.py's slow camera move (mean end-point error, ultrafast 0.38 ->
        // 0.34, medium 0.143 -> 0.137, against a ridge a hundred times smaller).
        let ridge = 3.0 * n;
        let (a, b, d) = (sxx + ridge, sxy, syy + ridge);
        let det = a * d - b * b;
        Template {
            t,
            gx,
            gy,
            sgx,
            sgy,
            inv: [d / det, -b / det, a / det],
        }
    }

    /// The patch's cost and descent step at (x, y) in I1 (its top-left corner): `step` with
    /// the bilinear samples made on the way, not stored.
    #[inline(always)]
    #[allow(clippy::needless_range_loop)]
    fn step_at(
        &self,
        level: &Level,
        x: f32,
        y: f32,
        window: &mut Window,
        mean_norm: bool,
    ) -> (f32, f32, f32) {
        let (fx0, fy0) = (x.floor(), y.floor());
        let (fx, fy) = (x - fx0, y - fy0);
        let (w00, w01, w10, w11) = (
            (1.0 - fx) * (1.0 - fy),
            fx * (1.0 - fy),
            (1.0 - fx) * fy,
            fx * fy,
        );
        let (src, stride) = level.source::<P>(fx0, fy0, window);
        let mut sd = [0.0f32; P];
        let mut sxd = [0.0f32; P];
        let mut syd = [0.0f32; P];
        let mut ssd = [0.0f32; P];
        for j in 0..P {
            let r0 = &src[j * stride..][..P + 1];
            let r1 = &src[(j + 1) * stride..][..P + 1];
            for k in 0..P {
                let value = w00 * r0[k] + w01 * r0[k + 1] + w10 * r1[k] + w11 * r1[k + 1];
                let d = value - self.t[j][k];
                sd[k] += d;
                sxd[k] += self.gx[j][k] * d;
                syd[k] += self.gy[j][k] * d;
                ssd[k] += d * d;
            }
        }
        self.finish(sd, sxd, syd, ssd, mean_norm)
    }

    /// Cost and step from the lane-wise sums of d, gx d, gy d and d².
    #[inline(always)]
    fn finish(
        &self,
        sd: [f32; P],
        sxd: [f32; P],
        syd: [f32; P],
        ssd: [f32; P],
        mean_norm: bool,
    ) -> (f32, f32, f32) {
        let sum = |v: [f32; P]| v.iter().sum::<f32>();
        let (sd, sxd, syd, ssd) = (sum(sd), sum(sxd), sum(syd), sum(ssd));
        let n = (P * P) as f32;
        let (bx, by, cost) = if mean_norm {
            let mean = sd / n;
            (
                sxd - self.sgx * mean,
                syd - self.sgy * mean,
                ssd - sd * mean,
            )
        } else {
            (sxd, syd, ssd)
        };
        let [i00, i01, i11] = self.inv;
        (cost, i00 * bx + i01 * by, i01 * bx + i11 * by)
    }
}

/// Patch rows in one parallel task: propagation runs within a stripe.
const STRIPE_ROWS: usize = 6;

/// The patch sizes [`search`] supports (each compiled for its size).
pub(crate) const MAX_PATCH: usize = 16;

/// Every patch's flow by inverse-compositional descent, starting from `pu`, `pv`.
fn search(
    level: &Level,
    xs: &[usize],
    ys: &[usize],
    pu: &mut [f32],
    pv: &mut [f32],
    params: &DisParams,
) {
    let nx = xs.len();
    let chunk = nx * STRIPE_ROWS;
    pu.par_chunks_mut(chunk)
        .zip(pv.par_chunks_mut(chunk))
        .enumerate()
        .for_each(|(s, (su, sv))| {
            let rows = &ys[s * STRIPE_ROWS..(s * STRIPE_ROWS + su.len() / nx)];
            by_patch_size!(level.p, search_stripe(level, xs, rows, su, sv, params))
        });
}

/// One stripe's search, compiled with AVX2 and FMA where the CPU has them.
fn search_stripe<const P: usize>(
    level: &Level,
    xs: &[usize],
    ys: &[usize],
    su: &mut [f32],
    sv: &mut [f32],
    params: &DisParams,
) {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx2,fma")]
        fn fast<const P: usize>(
            level: &Level,
            xs: &[usize],
            ys: &[usize],
            su: &mut [f32],
            sv: &mut [f32],
            params: &DisParams,
        ) {
            stripe::<P>(level, xs, ys, su, sv, params)
        }
        if crate::simd::avx2_fma() {
            // SAFETY: the CPU has the features `fast` is compiled for.
            return unsafe { fast::<P>(level, xs, ys, su, sv, params) };
        }
    }
    stripe::<P>(level, xs, ys, su, sv, params)
}

#[inline(always)]
fn stripe<const P: usize>(
    level: &Level,
    xs: &[usize],
    ys: &[usize],
    su: &mut [f32],
    sv: &mut [f32],
    params: &DisParams,
) {
    let mean_norm = params.mean_normalization;
    let nx = xs.len();
    // Plain loops and functions, no closures: closures would be compiled apart, without
    // the caller's AVX2.
    let mut templates: Vec<Template<P>> = Vec::with_capacity(su.len());
    for &y in ys {
        for &x in xs {
            templates.push(Template::new(level, x, y, mean_norm));
        }
    }
    let init_u = su.to_vec();
    let init_v = sv.to_vec();
    let mut buf: Window = [0.0; (MAX_PATCH + 1) * (MAX_PATCH + 1)];
    #[inline(always)]
    fn cost<const P: usize>(
        level: &Level,
        template: &Template<P>,
        (x, y): (usize, usize),
        (u, v): (f32, f32),
        buf: &mut Window,
        mean_norm: bool,
    ) -> f32 {
        template
            .step_at(level, x as f32 + u, y as f32 + v, buf, mean_norm)
            .0
    }
    let at = |k: usize| (xs[k % nx], ys[k / nx]);
    let iters = params.gradient_descent_iterations;
    let halves = [iters / 2, iters - iters / 2];
    for (pass, &n_iter) in halves.iter().enumerate() {
        let count = su.len();
        for step in 0..count {
            // Forward pass in raster order, backward pass in reverse.
            let k = if pass == 0 { step } else { count - 1 - step };
            let (col, row) = (k % nx, k / nx);
            let (mut u, mut v) = (su[k], sv[k]);
            if params.spatial_propagation {
                let mut best = cost(level, &templates[k], at(k), (u, v), &mut buf, mean_norm);
                let neighbours = if pass == 0 {
                    [(col > 0).then(|| k - 1), (row > 0).then(|| k - nx)]
                } else {
                    [
                        (col + 1 < nx).then(|| k + 1),
                        (k + nx < count).then(|| k + nx),
                    ]
                };
                for n in neighbours.into_iter().flatten() {
                    let c = cost(
                        level,
                        &templates[k],
                        at(k),
                        (su[n], sv[n]),
                        &mut buf,
                        mean_norm,
                    );
                    if c < best {
                        best = c;
                        u = su[n];
                        v = sv[n];
                    }
                }
            }
            let (x, y) = (xs[col] as f32, ys[row] as f32);
            let template = &templates[k];
            for _ in 0..n_iter {
                let (_, du, dv) = template.step_at(level, x + u, y + v, &mut buf, mean_norm);
                u -= du;
                v -= dv;
                if du * du + dv * dv < 1e-6 {
                    break;
                }
            }
            su[k] = u;
            sv[k] = v;
        }
    }
    // A patch that went further than its own size from where it started, or ended worse
    // there (a flat or repeated texture sent it astray), goes back.
    for k in 0..su.len() {
        let far = (su[k] - init_u[k]).powi(2) + (sv[k] - init_v[k]).powi(2) > (P * P) as f32;
        let back = far
            || cost(
                level,
                &templates[k],
                at(k),
                (su[k], sv[k]),
                &mut buf,
                mean_norm,
            ) > cost(
                level,
                &templates[k],
                at(k),
                (init_u[k], init_v[k]),
                &mut buf,
                mean_norm,
            );
        if back {
            su[k] = init_u[k];
            sv[k] = init_v[k];
        }
    }
}

/// The dense flow of a level: each pixel the mean of the patches covering it, weighted by
/// 1 / max(1, |I1(x + u_i) - I0(x)|) (the paper's densification). Patch by patch: each one's
/// warped pixels are a patch sample, as in the search.
fn densify(
    level: &Level,
    xs: &[usize],
    ys: &[usize],
    pu: &[f32],
    pv: &[f32],
) -> (Vec<f32>, Vec<f32>) {
    let n = level.w * level.h;
    let mut sums = [vec![0.0f32; n], vec![0.0f32; n], vec![0.0f32; n]];
    let [su, sv, sw] = &mut sums;
    by_patch_size!(level.p, accumulate(level, xs, ys, pu, pv, su, sv, sw));
    let [mut u, mut v, sw] = sums;
    u.par_chunks_mut(level.w)
        .zip(v.par_chunks_mut(level.w))
        .zip(sw.par_chunks(level.w))
        .for_each(|((u, v), sw)| {
            for ((u, v), sw) in u.iter_mut().zip(v).zip(sw) {
                // Every pixel is covered (see `positions`), and each weight is positive.
                *u /= sw;
                *v /= sw;
            }
        });
    (u, v)
}

/// Each patch's weighted flow added to the sums of its pixels.
#[allow(clippy::too_many_arguments)]
fn accumulate<const P: usize>(
    level: &Level,
    xs: &[usize],
    ys: &[usize],
    pu: &[f32],
    pv: &[f32],
    su: &mut [f32],
    sv: &mut [f32],
    sw: &mut [f32],
) {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx2,fma")]
        #[allow(clippy::too_many_arguments)]
        fn fast<const P: usize>(
            level: &Level,
            xs: &[usize],
            ys: &[usize],
            pu: &[f32],
            pv: &[f32],
            su: &mut [f32],
            sv: &mut [f32],
            sw: &mut [f32],
        ) {
            accumulate_body::<P>(level, xs, ys, pu, pv, su, sv, sw)
        }
        if crate::simd::avx2_fma() {
            // SAFETY: the CPU has the features `fast` is compiled for.
            return unsafe { fast::<P>(level, xs, ys, pu, pv, su, sv, sw) };
        }
    }
    accumulate_body::<P>(level, xs, ys, pu, pv, su, sv, sw)
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn accumulate_body<const P: usize>(
    level: &Level,
    xs: &[usize],
    ys: &[usize],
    pu: &[f32],
    pv: &[f32],
    su: &mut [f32],
    sv: &mut [f32],
    sw: &mut [f32],
) {
    let w = level.w;
    let mut warped = [[0.0f32; P]; P];
    for (r, &y) in ys.iter().enumerate() {
        for (c, &x) in xs.iter().enumerate() {
            let k = r * xs.len() + c;
            let (fu, fv) = (pu[k], pv[k]);
            level.sample::<P>(x as f32 + fu, y as f32 + fv, &mut warped);
            for (j, warped) in warped.iter().enumerate() {
                let at = (y + j) * w + x;
                let i0 = &level.i0[at..at + P];
                let (su, sv, sw) = (
                    &mut su[at..at + P],
                    &mut sv[at..at + P],
                    &mut sw[at..at + P],
                );
                for q in 0..P {
                    let weight = 1.0 / (warped[q] - i0[q]).abs().max(1.0);
                    su[q] += weight * fu;
                    sv[q] += weight * fv;
                    sw[q] += weight;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patches_cover_every_pixel() {
        for (len, patch, stride) in [(17, 8, 4), (16, 8, 4), (8, 8, 4), (100, 8, 3), (9, 2, 5)] {
            let pos = positions(len, patch, stride);
            assert_eq!(*pos.last().unwrap(), len - patch);
            for x in 0..len {
                assert!(
                    pos.iter().any(|&p| p <= x && x < p + patch),
                    "pixel {x} of {len} uncovered"
                );
            }
        }
    }

    #[test]
    fn binning_is_halving_repeated() {
        let (w, h) = (23, 13);
        let data: Vec<f32> = (0..w * h)
            .map(|i| ((i * 37) % 101) as f32 / 100.0)
            .collect();
        let g = Gray::new(w, h, data.clone());
        let mut halved = Plane {
            w,
            h,
            data: data.iter().map(|v| v * 255.0).collect(),
        };
        for s in 0..4 {
            let binned = Plane::binned(&g, s);
            assert_eq!((binned.w, binned.h), (halved.w, halved.h), "scale {s}");
            for (a, b) in binned.data.iter().zip(&halved.data) {
                assert!((a - b).abs() < 1e-3, "scale {s}: {a} against {b}");
            }
            halved = halved.halved();
        }
    }

    #[test]
    fn gradient_of_a_ramp_is_its_slope() {
        let (w, h) = (7, 5);
        let p: Vec<f32> = (0..w * h)
            .map(|i| 2.0 * (i % w) as f32 + 3.0 * (i / w) as f32)
            .collect();
        let (gx, gy) = gradients(&p, w, h);
        assert!((gx[2 * w + 3] - 2.0).abs() < 1e-6);
        assert!((gy[2 * w + 3] - 3.0).abs() < 1e-6);
    }
}
