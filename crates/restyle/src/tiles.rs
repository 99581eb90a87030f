//! Tiles for outputs larger than memory allows: overlapping rectangles
//! covering the image, and their blending back into one picture with
//! weights that fade across each overlap, so no seam shows.

use restyle_engine::Tensor;

/// A rectangle of the output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tile {
    pub x: usize,
    pub y: usize,
    pub width: usize,
    pub height: usize,
}

/// Tiles along one axis of `length`: their common length (at most `tile`,
/// but no longer than needed, so that no more is optimised than the
/// overlaps require) and their start positions, spread evenly with at least
/// `overlap` in common between neighbours.
fn axis(length: usize, tile: usize, overlap: usize) -> (usize, Vec<usize>) {
    if length <= tile {
        return (length, vec![0]);
    }
    let count = (length - overlap).div_ceil(tile - overlap);
    // The shortest tiles that still cover with the overlap, plus a pixel
    // for rounding the starts.
    let size = ((length + (count - 1) * overlap).div_ceil(count) + 1).min(tile);
    // Even spacing: the first tile at 0, the last flush with the end.
    let starts = (0..count)
        .map(|i| ((length - size) as f64 * i as f64 / (count - 1) as f64).round() as usize)
        .collect();
    (size, starts)
}

/// Tiles of at most `tile x tile` pixels covering a `width x height` image,
/// neighbours overlapping by at least `overlap`.
///
/// # Panics
/// If `overlap >= tile`.
pub fn plan_tiles(width: usize, height: usize, tile: usize, overlap: usize) -> Vec<Tile> {
    assert!(overlap < tile, "tiles must be larger than their overlap");
    let (tw, xs) = axis(width, tile, overlap);
    let (th, ys) = axis(height, tile, overlap);
    let mut tiles = Vec::new();
    for &y in &ys {
        for &x in &xs {
            tiles.push(Tile {
                x,
                y,
                width: tw,
                height: th,
            });
        }
    }
    tiles
}

/// A tile's weight along one axis at offset `i` of `len`: a raised-cosine
/// ramp over `ramp` pixels at an edge shared with a neighbour, 1 elsewhere.
/// Never zero, so every pixel keeps some weight.
fn ramp_weight(i: usize, len: usize, ramp: usize, fade_start: bool, fade_end: bool) -> f32 {
    let ramp_at = |d: usize| {
        let t = (d as f32 + 0.5) / ramp as f32;
        0.5 - 0.5 * (std::f32::consts::PI * t.min(1.0)).cos()
    };
    let mut w = 1.0f32;
    if fade_start && i < ramp {
        w = w.min(ramp_at(i));
    }
    if fade_end && len - 1 - i < ramp {
        w = w.min(ramp_at(len - 1 - i));
    }
    w.max(1e-4)
}

/// Accumulates tiles into one image: the weighted mean of every tile that
/// covers a pixel.
#[derive(Clone)]
pub struct Blender {
    width: usize,
    height: usize,
    overlap: usize,
    sum: Tensor,
    weight: Vec<f32>,
}

impl Blender {
    pub fn new(channels: usize, width: usize, height: usize, overlap: usize) -> Self {
        Self {
            width,
            height,
            overlap,
            sum: Tensor::zeros(channels, height, width),
            weight: vec![0.0; width * height],
        }
    }

    /// Adds `pixels` (the tile's size) at `tile`'s place.
    pub fn add(&mut self, tile: Tile, pixels: &Tensor) {
        assert_eq!(
            (pixels.width(), pixels.height()),
            (tile.width, tile.height),
            "tile size"
        );
        let fades = (
            tile.x > 0,
            tile.x + tile.width < self.width,
            tile.y > 0,
            tile.y + tile.height < self.height,
        );
        let ramp = self.overlap.max(1);
        let wx: Vec<f32> = (0..tile.width)
            .map(|i| ramp_weight(i, tile.width, ramp, fades.0, fades.1))
            .collect();
        let wy: Vec<f32> = (0..tile.height)
            .map(|i| ramp_weight(i, tile.height, ramp, fades.2, fades.3))
            .collect();
        for c in 0..pixels.channels() {
            let src = pixels.plane(c);
            let dst = self.sum.plane_mut(c);
            for (y, &fy) in wy.iter().enumerate() {
                for (x, &fx) in wx.iter().enumerate() {
                    dst[(tile.y + y) * self.width + tile.x + x] +=
                        fy * fx * src[y * tile.width + x];
                }
            }
        }
        for (y, &fy) in wy.iter().enumerate() {
            for (x, &fx) in wx.iter().enumerate() {
                self.weight[(tile.y + y) * self.width + tile.x + x] += fy * fx;
            }
        }
    }

    /// The blended image; where no tile was added, `background`.
    pub fn finish(&self, background: &Tensor) -> Tensor {
        let mut out = background.clone();
        for c in 0..out.channels() {
            let sum = self.sum.plane(c);
            for (i, o) in out.plane_mut(c).iter_mut().enumerate() {
                if self.weight[i] > 0.0 {
                    *o = sum[i] / self.weight[i];
                }
            }
        }
        out
    }
}

/// The `tile` of `image`.
pub fn crop(image: &Tensor, tile: Tile) -> Tensor {
    let mut out = Tensor::zeros(image.channels(), tile.height, tile.width);
    for c in 0..image.channels() {
        let src = image.plane(c);
        let dst = out.plane_mut(c);
        for y in 0..tile.height {
            let row = (tile.y + y) * image.width() + tile.x;
            dst[y * tile.width..(y + 1) * tile.width].copy_from_slice(&src[row..row + tile.width]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn covered(tiles: &[Tile], w: usize, h: usize) -> Vec<usize> {
        let mut count = vec![0; w * h];
        for t in tiles {
            for y in t.y..t.y + t.height {
                for x in t.x..t.x + t.width {
                    count[y * w + x] += 1;
                }
            }
        }
        count
    }

    #[test]
    fn tiles_cover_the_image_with_the_asked_overlap() {
        for (w, h, tile, overlap) in [
            (1000, 700, 400, 64),
            (4096, 2731, 1024, 128),
            (300, 200, 512, 64),
            (513, 512, 512, 32),
        ] {
            let tiles = plan_tiles(w, h, tile, overlap);
            assert!(covered(&tiles, w, h).iter().all(|&c| c >= 1), "{w}x{h}");
            for t in &tiles {
                assert!(
                    t.x + t.width <= w
                        && t.y + t.height <= h
                        && t.width <= tile
                        && t.height <= tile
                );
            }
            // Neighbours along a row overlap by at least `overlap`.
            let row: Vec<&Tile> = tiles.iter().filter(|t| t.y == 0).collect();
            for pair in row.windows(2) {
                assert!(pair[0].x + pair[0].width >= pair[1].x + overlap, "{pair:?}");
            }
        }
        assert_eq!(
            plan_tiles(300, 200, 512, 64),
            vec![Tile {
                x: 0,
                y: 0,
                width: 300,
                height: 200
            }]
        );
    }

    #[test]
    fn tiles_are_no_larger_than_the_overlaps_need() {
        // 4096 x 3072 in tiles of at most 1024 with 128 in common: 5 x 4 tiles
        // of 1024 would optimise 67% more pixels than the picture has; tiles
        // shrunk to 922 x 864 optimise 27% more.
        let (w, h, overlap) = (4096, 3072, 128);
        let tiles = plan_tiles(w, h, 1024, overlap);
        assert_eq!(tiles.len(), 5 * 4);
        let area: usize = tiles.iter().map(|t| t.width * t.height).sum();
        assert!((area as f64) < 1.3 * (w * h) as f64, "{area}");
        assert!(covered(&tiles, w, h).iter().all(|&c| c >= 1));
        let column: Vec<&Tile> = tiles.iter().filter(|t| t.x == 0).collect();
        for pair in column.windows(2) {
            assert!(
                pair[0].y + pair[0].height >= pair[1].y + overlap,
                "{pair:?}"
            );
        }
    }

    #[test]
    fn a_constant_image_stays_constant_across_seams() {
        let (w, h) = (500, 300);
        let tiles = plan_tiles(w, h, 200, 48);
        assert!(tiles.len() > 4);
        let mut blender = Blender::new(3, w, h, 48);
        for t in &tiles {
            let mut tile = Tensor::zeros(3, t.height, t.width);
            for c in 0..3 {
                tile.plane_mut(c).fill(0.25 * (c + 1) as f32);
            }
            blender.add(*t, &tile);
        }
        let out = blender.finish(&Tensor::zeros(3, h, w));
        for c in 0..3 {
            for &v in out.plane(c) {
                assert!((v - 0.25 * (c + 1) as f32).abs() < 1e-6, "{v}");
            }
        }
    }

    #[test]
    fn blending_fades_smoothly_from_one_tile_to_the_next() {
        // Two tiles of different constants: across the overlap the result
        // moves monotonically from one to the other, without jumps.
        let (w, h) = (300, 10);
        let tiles = plan_tiles(w, h, 200, 100);
        assert_eq!(tiles.len(), 2);
        let mut blender = Blender::new(1, w, h, 100);
        for (t, value) in tiles.iter().zip([0.0f32, 1.0]) {
            blender.add(
                *t,
                &Tensor::from_vec(1, t.height, t.width, vec![value; t.width * t.height]),
            );
        }
        let out = blender.finish(&Tensor::zeros(1, h, w));
        let row = &out.plane(0)[..w];
        assert!(row[..100].iter().all(|&v| v < 1e-3) && row[200..].iter().all(|&v| v > 1.0 - 1e-3));
        for pair in row.windows(2) {
            assert!(
                pair[1] >= pair[0] - 1e-6 && pair[1] - pair[0] < 0.05,
                "{pair:?}"
            );
        }
    }

    #[test]
    fn crop_and_blend_of_the_whole_tiling_give_the_image_back() {
        let (w, h) = (257, 130);
        let image = Tensor::from_vec(2, h, w, (0..2 * w * h).map(|i| (i % 97) as f32).collect());
        let mut blender = Blender::new(2, w, h, 32);
        for t in plan_tiles(w, h, 100, 32) {
            blender.add(t, &crop(&image, t));
        }
        let out = blender.finish(&Tensor::zeros(2, h, w));
        for (a, b) in out.as_slice().iter().zip(image.as_slice()) {
            assert!((a - b).abs() < 1e-3);
        }
    }
}
