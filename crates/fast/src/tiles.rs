//! Painting a picture larger than memory allows in tiles (`--method fast --tile`).
//!
//! T is fully convolutional except for its conditional instance normalisations, whose
//! statistics span the whole picture: tiles normalised each with their own would differ in
//! brightness and contrast. So the statistics are measured once, on the whole picture
//! scaled down to [`Tiling::statistics_size`] (the CLI takes the largest size that fits in
//! memory), and every tile is normalised with those ([`Transformer::stylize_with`]). The
//! alternative, gathering each normalisation's statistics over all tiles at full size, is
//! exact but needs one pass over the tiles per normalisation (13 of them: each layer's
//! statistics depend on the ones before), about eight times the work. Measured on
//! Tübingen at 320 px (`tests/tiles.rs`): with the picture's own statistics the tiles
//! differ from the whole by at most 0.014 (mean 0.0002, values 0..1); statistics from a
//! copy at 3/4 of the size move the mean difference to 0.015-0.019, at half to 0.03-0.05.
//!
//! Tiles start at multiples of 4, so their stride-2 and upsampling grids line up with the
//! whole picture's; neighbours share `overlap` pixels, blended with linear ramps (weights
//! that sum to 1), which also fades out each tile's edge, where its reflection padding
//! stands in for the neighbour's pixels.

use restyle_engine::Tensor;

use crate::model::{Transformer, MIN_CONTENT_SIZE};
use crate::{Result, StyleVector};

/// How to paint in tiles.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tiling {
    /// The side of a tile, pixels (rounded down to a multiple of 4).
    pub tile: usize,
    /// Pixels neighbouring tiles share (rounded down to a multiple of 4, at least 8).
    pub overlap: usize,
    /// The long edge of the scaled-down copy the normalisation statistics come from.
    pub statistics_size: usize,
}

impl Default for Tiling {
    /// 1024 px tiles (about 90 MB each), 128 px shared (the network reaches about 60 px),
    /// statistics at 2048 px.
    fn default() -> Self {
        Self {
            tile: 1024,
            overlap: 128,
            statistics_size: 2048,
        }
    }
}

impl Tiling {
    /// Tile side and overlap as used: multiples of 4, the overlap at least
    /// [`MIN_CONTENT_SIZE`] and under half a tile.
    fn sides(&self) -> (usize, usize) {
        let tile = (self.tile / 4 * 4).max(4 * MIN_CONTENT_SIZE);
        let overlap = (self.overlap / 4 * 4).clamp(MIN_CONTENT_SIZE, tile / 2);
        (tile, overlap)
    }

    /// Bytes painting a `width x height` picture in these tiles needs at most, beyond the
    /// weights: one tile's worth of [`crate::memory_bytes`] or the statistics copy's, and
    /// the content with the blended output and its weights (7 floats a pixel).
    pub fn memory_bytes(&self, width: usize, height: usize, threads: usize) -> u64 {
        let (tile, _) = self.sides();
        let (sw, sh) = scaled(width, height, self.statistics_size);
        let run = crate::memory_bytes(tile.min(width), tile.min(height), threads)
            .max(crate::memory_bytes(sw, sh, threads));
        run + width as u64 * height as u64 * 28
    }
}

/// `width x height` scaled so that its long edge is at most `long_edge`.
fn scaled(width: usize, height: usize, long_edge: usize) -> (usize, usize) {
    let long = width.max(height);
    if long <= long_edge {
        return (width, height);
    }
    let f = long_edge as f64 / long as f64;
    (
        ((width as f64 * f).round() as usize).max(MIN_CONTENT_SIZE),
        ((height as f64 * f).round() as usize).max(MIN_CONTENT_SIZE),
    )
}

/// Where the tiles along an axis of `len` start: every `tile - overlap` pixels (multiples
/// of 4); the last runs to the end, and is longer than `overlap`.
fn starts(len: usize, tile: usize, overlap: usize) -> Vec<usize> {
    let step = tile - overlap;
    let mut starts = vec![0];
    while starts.last().unwrap() + tile < len {
        let next = starts.last().unwrap() + step;
        starts.push(next);
    }
    starts
}

/// A tile's blending weight at `x` along an axis, for a tile over `start..end` of `len`:
/// over the `overlap` it shares with the tile before, 0 for the first quarter (where its
/// reflection padding shows most), rising to 1 by the last quarter; mirrored where it
/// overlaps the tile after. Neighbours' weights sum to 1.
fn ramp(x: usize, start: usize, end: usize, len: usize, overlap: usize) -> f32 {
    let o = overlap as f32;
    let weight = |from_edge: f32| ((from_edge - o / 4.0) / (o / 2.0)).clamp(0.0, 1.0);
    let rise = if start > 0 {
        weight((x - start) as f32 + 0.5)
    } else {
        1.0
    };
    let fall = if end < len {
        weight((end - x) as f32 - 0.5)
    } else {
        1.0
    };
    rise.min(fall)
}

/// `content` (`3 x H x W`, 0..1) painted in `style` tile by tile, each tile normalised with
/// the statistics of the whole picture scaled down to `tiling.statistics_size`.
pub fn stylize_tiled(
    transformer: &Transformer,
    content: &Tensor,
    style: &StyleVector,
    tiling: &Tiling,
) -> Result<Tensor> {
    let (channels, height, width) = content.shape();
    let (tile, overlap) = tiling.sides();
    let (sw, sh) = scaled(width, height, tiling.statistics_size);
    let statistics = if (sw, sh) == (width, height) {
        transformer.statistics(content, style)?
    } else {
        transformer.statistics(&resize(content, sw, sh), style)?
    };
    let (rows, columns) = (starts(height, tile, overlap), starts(width, tile, overlap));
    let mut out = Tensor::zeros(3, height, width);
    let mut weights = vec![0.0f32; width * height];
    for &top in &rows {
        let bottom = (top + tile).min(height);
        for &left in &columns {
            let right = (left + tile).min(width);
            let (th, tw) = (bottom - top, right - left);
            let mut piece = Tensor::zeros(channels, th, tw);
            for c in 0..channels {
                let src = content.plane(c);
                for (y, row) in piece.plane_mut(c).chunks_mut(tw).enumerate() {
                    row.copy_from_slice(&src[(top + y) * width + left..][..tw]);
                }
            }
            let painted = transformer.stylize_with(&piece, style, &statistics)?;
            let wy: Vec<f32> = (top..bottom)
                .map(|y| ramp(y, top, bottom, height, overlap))
                .collect();
            let wx: Vec<f32> = (left..right)
                .map(|x| ramp(x, left, right, width, overlap))
                .collect();
            for (y, &a) in wy.iter().enumerate() {
                let row = (top + y) * width + left;
                for (x, &b) in wx.iter().enumerate() {
                    weights[row + x] += a * b;
                }
            }
            for c in 0..3 {
                let src = painted.plane(c);
                let dst = out.plane_mut(c);
                for (y, &a) in wy.iter().enumerate() {
                    let row = (top + y) * width + left;
                    for (x, &b) in wx.iter().enumerate() {
                        dst[row + x] += a * b * src[y * tw + x];
                    }
                }
            }
        }
    }
    for c in 0..3 {
        for (v, w) in out.plane_mut(c).iter_mut().zip(&weights) {
            *v /= w;
        }
    }
    Ok(out)
}

/// `t` resized to `width x height` (bilinear, as restyle resizes images).
fn resize(t: &Tensor, width: usize, height: usize) -> Tensor {
    restyle::Image::from_tensor(t.clone())
        .resized(width, height)
        .into_tensor()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_cover_the_axis_start_on_multiples_of_4_and_their_weights_sum_to_1() {
        for (len, tile, overlap) in [(100, 40, 8), (1000, 256, 64), (300, 300, 16), (97, 32, 8)] {
            let s = starts(len, tile, overlap);
            assert!(s.iter().all(|v| v % 4 == 0), "{s:?}");
            let last = *s.last().unwrap();
            assert!(last + tile >= len && len - last > overlap.min(len), "{s:?}");
            for x in 0..len {
                let total: f32 = s
                    .iter()
                    .filter(|&&st| st <= x && x < (st + tile).min(len))
                    .map(|&st| ramp(x, st, (st + tile).min(len), len, overlap))
                    .sum();
                assert!(
                    (total - 1.0).abs() < 1e-5,
                    "x={x}: {total} ({len} {tile} {overlap})"
                );
            }
        }
    }
}
