//! Image derivatives, read by the patch search and by the variational refinement alike.

use rayon::prelude::*;

use crate::simd::kernel;

/// Horizontal and vertical derivatives (Sobel, divided by 8 so a ramp of slope 1 gives 1),
/// the edge pixels repeated outwards.
pub(crate) fn gradients(p: &[f32], w: usize, h: usize) -> (Vec<f32>, Vec<f32>) {
    let mut gx = vec![0.0f32; w * h];
    let mut gy = vec![0.0f32; w * h];
    if w == 0 || h == 0 {
        return (gx, gy);
    }
    gx.par_chunks_mut(w)
        .zip(gy.par_chunks_mut(w))
        .enumerate()
        .with_min_len(8)
        .for_each(|(y, (rx, ry))| {
            let up = &p[y.saturating_sub(1) * w..][..w];
            let mid = &p[y * w..][..w];
            let down = &p[(y + 1).min(h - 1) * w..][..w];
            gradient_row(up, mid, down, rx, ry);
        });
    (gx, gy)
}

kernel! {
/// One row of [`gradients`] from the rows above, at and below it.
fn gradient_row(up: &[f32], mid: &[f32], down: &[f32], rx: &mut [f32], ry: &mut [f32]) {
    let w = rx.len();
    let (up, mid, down, ry) = (&up[..w], &mid[..w], &down[..w], &mut ry[..w]);
    let at = |x: usize, l: usize, r: usize| {
        (
            ((up[r] - up[l]) + 2.0 * (mid[r] - mid[l]) + (down[r] - down[l])) / 8.0,
            ((down[l] - up[l]) + 2.0 * (down[x] - up[x]) + (down[r] - up[r])) / 8.0,
        )
    };
    if w < 3 {
        for x in 0..w {
            (rx[x], ry[x]) = at(x, x.saturating_sub(1), (x + 1).min(w - 1));
        }
        return;
    }
    (rx[0], ry[0]) = at(0, 0, 1);
    (rx[w - 1], ry[w - 1]) = at(w - 1, w - 2, w - 1);
    // The interior as shifted slices: x - 1, x, x + 1 for x in 1..w - 1.
    let n = w - 2;
    let (ul, uc, ur) = (&up[..n], &up[1..n + 1], &up[2..]);
    let (ml, mr) = (&mid[..n], &mid[2..]);
    let (dl, dc, dr) = (&down[..n], &down[1..n + 1], &down[2..]);
    let (ox, oy) = (&mut rx[1..n + 1], &mut ry[1..n + 1]);
    for i in 0..n {
        ox[i] = ((ur[i] - ul[i]) + 2.0 * (mr[i] - ml[i]) + (dr[i] - dl[i])) * 0.125;
        oy[i] = ((dl[i] - ul[i]) + 2.0 * (dc[i] - uc[i]) + (dr[i] - ur[i])) * 0.125;
    }
}
}
