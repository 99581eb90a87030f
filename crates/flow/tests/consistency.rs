//! Warping, the reliability mask and the warping error, on flows and frames built by hand.

use restyle_flow::{
    dis_flow, reliability, smoothed, warp, warping_error, DisParams, FlowField, Gray, Preset,
};

fn uniform(w: usize, h: usize, u: f32, v: f32) -> FlowField {
    FlowField {
        width: w,
        height: h,
        u: vec![u; w * h],
        v: vec![v; w * h],
    }
}

/// Deterministic values that differ from pixel to pixel and plane to plane.
fn planes(w: usize, h: usize, channels: usize) -> Vec<f32> {
    (0..channels * w * h)
        .map(|i| ((i * 7919 + 13) % 251) as f32 / 250.0)
        .collect()
}

#[test]
fn warp_is_exact_on_integer_shifts() {
    let (w, h) = (13, 9);
    let src = planes(w, h, 2);
    let (out, inside) = warp(&src, 2, &uniform(w, h, 3.0, -2.0));
    for c in 0..2 {
        for y in 0..h {
            for x in 0..w {
                let i = y * w + x;
                let (sx, sy) = (x as isize + 3, y as isize - 2);
                let ok = (0..w as isize).contains(&sx) && (0..h as isize).contains(&sy);
                assert_eq!(inside[i], ok, "({x}, {y})");
                if ok {
                    let j = c * w * h + sy as usize * w + sx as usize;
                    assert_eq!(out[c * w * h + i], src[j], "({x}, {y}) plane {c}");
                }
            }
        }
    }
}

#[test]
fn warp_is_bilinear_between_pixels() {
    let (w, h) = (8, 6);
    let src = planes(w, h, 1);
    let (out, inside) = warp(&src, 1, &uniform(w, h, 0.5, 0.5));
    for y in 0..h - 1 {
        for x in 0..w - 1 {
            let at = |dx: usize, dy: usize| src[(y + dy) * w + x + dx];
            let expected = 0.25 * (at(0, 0) + at(1, 0) + at(0, 1) + at(1, 1));
            assert!((out[y * w + x] - expected).abs() < 1e-6, "({x}, {y})");
            assert!(inside[y * w + x]);
        }
    }
    // The last column's source is half a pixel past the frame.
    assert!(!inside[w - 1]);
    // A quarter pixel across: 3/4 of one, 1/4 of the next.
    let (out, _) = warp(&src, 1, &uniform(w, h, 0.25, 0.0));
    assert!((out[2] - (0.75 * src[2] + 0.25 * src[3])).abs() < 1e-6);
}

#[test]
fn a_consistent_translation_is_reliable_except_where_it_leaves() {
    let (w, h) = (40, 30);
    let mask = reliability(&uniform(w, h, 2.0, 1.0), &uniform(w, h, -2.0, -1.0));
    for y in 0..h {
        for x in 0..w {
            let leaves = x + 2 > w - 1 || y + 1 > h - 1;
            assert_eq!(
                mask[y * w + x],
                if leaves { 0.0 } else { 1.0 },
                "({x}, {y})"
            );
        }
    }
    // The backward flow disagreeing (the object went elsewhere): unreliable.
    let mask = reliability(&uniform(w, h, 2.0, 1.0), &uniform(w, h, 1.0, -1.0));
    assert!(mask.iter().all(|&m| m == 0.0));
    // A small disagreement is forgiven (0.5 px² plus 1% of the motion).
    let mask = reliability(&uniform(w, h, 2.0, 1.0), &uniform(w, h, -2.3, -1.3));
    assert_eq!(mask[10 * w + 10], 1.0);
}

#[test]
fn an_occluding_block_and_its_edges_are_unreliable() {
    // Background still; a 10x10 block at x 10..20, y 10..20 moves 6 pixels right, covering
    // x 20..26 of the background and uncovering x 10..16.
    let (w, h) = (48, 32);
    let in_block =
        |x: usize, y: usize, x0: usize| (x0..x0 + 10).contains(&x) && (10..20).contains(&y);
    let mut forward = uniform(w, h, 0.0, 0.0);
    let mut backward = uniform(w, h, 0.0, 0.0);
    for y in 0..h {
        for x in 0..w {
            if in_block(x, y, 10) {
                forward.u[y * w + x] = 6.0;
            }
            if in_block(x, y, 16) {
                backward.u[y * w + x] = -6.0;
            }
        }
    }
    let mask = reliability(&forward, &backward);
    let m = |x: usize, y: usize| mask[y * w + x];
    // Background pixels the block covers in the next frame: the backward flow there points
    // into the block's old place, not back to them.
    for x in 21..26 {
        assert_eq!(m(x, 15), 0.0, "covered ({x}, 15)");
    }
    // The block's inside and the far background: consistent.
    assert_eq!(m(14, 15), 1.0);
    assert_eq!(m(35, 15), 1.0);
    assert_eq!(m(5, 5), 1.0);
    // The block's edges are motion boundaries.
    for y in 10..20 {
        assert_eq!(m(10, y), 0.0, "left edge ({}, {y})", 10);
        assert_eq!(m(19, y), 0.0, "right edge ({}, {y})", 19);
    }
    // The uncovered background (seen from the next frame, backward against forward).
    let back = reliability(&backward, &forward);
    for x in 11..16 {
        assert_eq!(back[15 * w + x], 0.0, "disoccluded ({x}, 15)");
    }
    assert_eq!(back[15 * w + 20], 1.0);
}

#[test]
fn computed_flows_of_a_smooth_translation_are_reliable() {
    let (w, h) = (160, 120);
    let frame = |shift: f32| {
        let data = (0..w * h)
            .map(|i| {
                let (x, y) = ((i % w) as f32 - shift, (i / w) as f32 - 0.5 * shift);
                0.5 + 0.2 * (0.21 * x + 0.05 * y).sin()
                    + 0.15 * (0.07 * x - 0.17 * y + 1.0).sin()
                    + 0.1 * (0.31 * x + 0.23 * y).cos()
            })
            .collect();
        Gray::new(w, h, data)
    };
    let (a, b) = (frame(0.0), frame(2.4));
    let params = DisParams::preset(Preset::Medium);
    let mask = reliability(&dis_flow(&a, &b, &params), &dis_flow(&b, &a, &params));
    // Away from the right and bottom edges, where the motion leaves the frame.
    let (mut reliable, mut count) = (0, 0);
    for y in 4..h - 4 {
        for x in 4..w - 6 {
            reliable += (mask[y * w + x] == 1.0) as usize;
            count += 1;
        }
    }
    let share = reliable as f64 / count as f64;
    println!("reliable: {share:.4}");
    assert!(share > 0.99, "{share}");
}

#[test]
fn smoothing_keeps_constants_and_spreads_a_step() {
    let (w, h) = (12, 7);
    let ones = smoothed(&vec![1.0; w * h], w, h, 0.8);
    assert!(ones.iter().all(|&v| (v - 1.0).abs() < 1e-6));
    let mut mask = vec![1.0; w * h];
    for y in 0..h {
        mask[y * w + 6] = 0.0;
    }
    let s = smoothed(&mask, w, h, 0.8);
    // Weights at distances 0 and 1 of a Gaussian of sigma 0.8, radius 3.
    let k = |d: f32| (-d * d / (2.0 * 0.64f32)).exp();
    let total = k(0.0) + 2.0 * (k(1.0) + k(2.0) + k(3.0));
    assert!((s[3 * w + 6] - (1.0 - k(0.0) / total)).abs() < 1e-5);
    assert!((s[3 * w + 5] - (1.0 - k(1.0) / total)).abs() < 1e-5);
    assert_eq!(smoothed(&mask, w, h, 0.0), mask);
}

#[test]
fn smoothing_is_the_renormalised_gaussian_at_every_pixel() {
    // Wider than the window and narrower than it; the plain sum at each pixel as the oracle.
    for (w, h, sigma) in [(37, 23, 0.8), (5, 4, 0.8), (40, 9, 1.7)] {
        let mask: Vec<f32> = (0..w * h)
            .map(|i| ((i * 7919) % 13) as f32 / 12.0)
            .collect();
        let got = smoothed(&mask, w, h, sigma);
        let radius = (3.0 * sigma).ceil() as isize;
        let k = |d: isize| (-((d * d) as f32) / (2.0 * sigma * sigma)).exp();
        for y in 0..h as isize {
            for x in 0..w as isize {
                let (mut sum, mut weight) = (0.0f64, 0.0f64);
                for yy in (y - radius).max(0)..=(y + radius).min(h as isize - 1) {
                    for xx in (x - radius).max(0)..=(x + radius).min(w as isize - 1) {
                        let kk = (k(yy - y) * k(xx - x)) as f64;
                        sum += kk * mask[(yy * w as isize + xx) as usize] as f64;
                        weight += kk;
                    }
                }
                let at = (y * w as isize + x) as usize;
                let expected = sum / weight;
                assert!(
                    (got[at] as f64 - expected).abs() < 1e-5,
                    "{w}x{h} at {x},{y}"
                );
            }
        }
    }
}

#[test]
fn warping_error_is_zero_for_a_perfect_warp_and_positive_for_noise() {
    let (w, h) = (30, 20);
    let (dx, dy) = (3usize, 2usize);
    // Next frame: this one moved (dx, dy); every pixel that stays in the frame is exact.
    let frame = planes(w, h, 3);
    let mut next = vec![0.5f32; 3 * w * h];
    for c in 0..3 {
        for y in 0..h - dy {
            for x in 0..w - dx {
                next[c * w * h + (y + dy) * w + x + dx] = frame[c * w * h + y * w + x];
            }
        }
    }
    let forward = uniform(w, h, dx as f32, dy as f32);
    let backward = uniform(w, h, -(dx as f32), -(dy as f32));
    assert_eq!(warping_error(&frame, &next, &forward, &backward), 0.0);
    // Noise of known size on top: the error is its mean square over the reliable pixels.
    let noisy: Vec<f32> = next
        .iter()
        .enumerate()
        .map(|(i, v)| v + if i % 2 == 0 { 0.1 } else { -0.1 })
        .collect();
    let e = warping_error(&frame, &noisy, &forward, &backward);
    assert!((e - 0.01).abs() < 1e-6, "{e}");
    // An empty mask counts the whole frame.
    let e = warping_error(
        &frame,
        &frame,
        &uniform(w, h, 100.0, 0.0),
        &uniform(w, h, 0.0, 0.0),
    );
    assert!(e > 0.0);
}

#[test]
fn a_flow_resized_with_its_frame() {
    // u = x / 10 (a zoom) on 20x10: twice the size doubles the vectors and keeps the field a
    // ramp in the new pixel centres.
    let (w, h) = (20, 10);
    let mut flow = uniform(w, h, 0.0, 1.5);
    for y in 0..h {
        for x in 0..w {
            flow.u[y * w + x] = x as f32 / 10.0;
        }
    }
    let big = flow.resized(40, 20);
    assert_eq!((big.width, big.height, big.u.len()), (40, 20, 800));
    for y in 0..20 {
        for x in 1..39 {
            // Pixel centre x of the big frame is (x + 0.5) / 2 - 0.5 of the small one.
            let expected = 2.0 * ((x as f32 + 0.5) / 2.0 - 0.5) / 10.0;
            assert!((big.u[y * 40 + x] - expected).abs() < 1e-5, "({x}, {y})");
            assert!((big.v[y * 40 + x] - 3.0).abs() < 1e-6);
        }
    }
    let same = flow.resized(w, h);
    assert_eq!(same.u, flow.u);
    assert!(FlowField::zeros(0, 0)
        .resized(3, 2)
        .u
        .iter()
        .all(|&u| u == 0.0));
}
