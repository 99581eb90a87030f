//! Variational refinement of a dense flow (Brox et al. 2004's energy, linearised around the
//! current flow, as OpenCV's VariationalRefinement describes it): brightness constancy
//! (weight delta) and gradient constancy (gamma), each normalised by the local gradient's
//! size, and smoothness (alpha), all under the robust penaliser sqrt(s^2 + eps^2); solved for
//! an increment by fixed-point iterations (the robust weights frozen in each) of red-black SOR.

use rayon::prelude::*;

use crate::dis::gradients;
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

    let mut du = vec![0.0f32; n];
    let mut dv = vec![0.0f32; n];
    // Per pixel: a11, a12, a22, b1, b2 of the data term.
    let mut data = vec![[0.0f32; 5]; n];
    // Smoothness weight of the edges to the right and down neighbours.
    let mut smooth = vec![0.0f32; n];
    for _ in 0..params.refinement_iterations {
        data.par_chunks_mut(w).enumerate().for_each(|(y, row)| {
            for (x, d) in row.iter_mut().enumerate() {
                let i = y * w + x;
                let (gx, gy) = (ix[i], iy[i]);
                let iz = i1w[i] - i0[i];
                let (gxx, gxy, gyy) = (ixx[i], ixy[i], iyy[i]);
                let (ixz, iyz) = (i1x[i] - i0x[i], i1y[i] - i0y[i]);
                let (a, b) = (du[i], dv[i]);
                let ni = gx * gx + gy * gy + ZETA * ZETA;
                let ri = iz + gx * a + gy * b;
                let wi = params.delta * robust(ri * ri / ni) / ni;
                let ngx = gxx * gxx + gxy * gxy + ZETA * ZETA;
                let rgx = ixz + gxx * a + gxy * b;
                let wgx = params.gamma * robust(rgx * rgx / ngx) / ngx;
                let ngy = gxy * gxy + gyy * gyy + ZETA * ZETA;
                let rgy = iyz + gxy * a + gyy * b;
                let wgy = params.gamma * robust(rgy * rgy / ngy) / ngy;
                *d = [
                    wi * gx * gx + wgx * gxx * gxx + wgy * gxy * gxy,
                    wi * gx * gy + wgx * gxx * gxy + wgy * gxy * gyy,
                    wi * gy * gy + wgx * gxy * gxy + wgy * gyy * gyy,
                    wi * gx * iz + wgx * gxx * ixz + wgy * gxy * iyz,
                    wi * gy * iz + wgx * gxy * ixz + wgy * gyy * iyz,
                ];
            }
        });
        smooth.par_chunks_mut(w).enumerate().for_each(|(y, row)| {
            for (x, s) in row.iter_mut().enumerate() {
                let i = y * w + x;
                let r = if x + 1 < w { i + 1 } else { i };
                let d = if y + 1 < h { i + w } else { i };
                let (ux, uy) = (u[r] + du[r] - u[i] - du[i], u[d] + du[d] - u[i] - du[i]);
                let (vx, vy) = (v[r] + dv[r] - v[i] - dv[i], v[d] + dv[d] - v[i] - dv[i]);
                *s = params.alpha * robust(ux * ux + uy * uy + vx * vx + vy * vy);
            }
        });
        for _ in 0..SOR_ITERATIONS {
            for colour in 0..2 {
                for y in 0..h {
                    let mut x = (y + colour) % 2;
                    while x < w {
                        let i = y * w + x;
                        let (mut sw, mut su, mut sv) = (0.0f32, 0.0f32, 0.0f32);
                        let mut edge = |j: usize, we: f32| {
                            sw += we;
                            su += we * (u[j] + du[j] - u[i]);
                            sv += we * (v[j] + dv[j] - v[i]);
                        };
                        if x > 0 {
                            edge(i - 1, smooth[i - 1]);
                        }
                        if x + 1 < w {
                            edge(i + 1, smooth[i]);
                        }
                        if y > 0 {
                            edge(i - w, smooth[i - w]);
                        }
                        if y + 1 < h {
                            edge(i + w, smooth[i]);
                        }
                        let [a11, a12, a22, b1, b2] = data[i];
                        let nu = (su - b1 - a12 * dv[i]) / (a11 + sw);
                        du[i] += OMEGA * (nu - du[i]);
                        let nv = (sv - b2 - a12 * du[i]) / (a22 + sw);
                        dv[i] += OMEGA * (nv - dv[i]);
                        x += 2;
                    }
                }
            }
        }
    }
    for i in 0..n {
        u[i] += du[i];
        v[i] += dv[i];
    }
}
