//! Tiles for pictures larger than memory allows: overlapping rectangles
//! covering the picture, each worked on alone, and their blending back into
//! one picture with weights that fade across each overlap, so no seam shows.
//!
//! Both methods tile this way. Gatys et al.'s optimisation (the `restyle`
//! crate) optimises tile after tile, each from the picture blended so far;
//! the fast network (`restyle-fast`) paints each tile in one pass, its tiles
//! starting at multiples of 4 so that its stride-2 and upsampling grids line
//! up with the whole picture's ([`Tiling::plan`]'s `align`). Each blends
//! with its own [`Ramp`].

use restyle_engine::Tensor;

/// A rectangle of a picture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tile {
    pub x: usize,
    pub y: usize,
    pub width: usize,
    pub height: usize,
}

/// How a picture is cut into tiles.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tiling {
    /// Longest side of a tile, pixels.
    pub tile: usize,
    /// Pixels neighbouring tiles share at least; they are blended across it.
    pub overlap: usize,
}

impl Tiling {
    /// Tiles of at most `tile x tile` pixels covering a `width x height`
    /// picture, neighbours overlapping by at least `overlap`, each starting
    /// at a multiple of `align` pixels (1: anywhere). The tiles are no longer
    /// than the overlaps need and spread evenly, row by row; with `align`
    /// above 1 the last of a row or column may be up to `align - 1` pixels
    /// shorter than the others.
    ///
    /// # Panics
    /// If `align` is 0, or the overlap does not leave a step of at least
    /// `align` between tiles (`overlap >= tile` with `align` 1).
    pub fn plan(&self, width: usize, height: usize, align: usize) -> Vec<Tile> {
        assert!(align > 0, "tiles align to at least 1 pixel");
        assert!(
            self.tile / align > self.overlap.div_ceil(align),
            "tiles must be larger than their overlap"
        );
        let columns = axis(width, self.tile, self.overlap, align);
        let rows = axis(height, self.tile, self.overlap, align);
        let mut tiles = Vec::with_capacity(rows.len() * columns.len());
        for &(y, height) in &rows {
            for &(x, width) in &columns {
                tiles.push(Tile {
                    x,
                    y,
                    width,
                    height,
                });
            }
        }
        tiles
    }

    /// The tiles of a `width x height` picture, starting anywhere, or `None`
    /// if it fits in one.
    pub fn tiles(&self, width: usize, height: usize) -> Option<Vec<Tile>> {
        (width.max(height) > self.tile).then(|| self.plan(width, height, 1))
    }
}

/// Tiles along one axis of `length`: (start, length) of each. They are
/// planned in units of `align` pixels (the picture rounded up to whole
/// units, the tile down, the overlap up), so that every start is a multiple
/// of it, and the last is cut at the picture's end.
fn axis(length: usize, tile: usize, overlap: usize, align: usize) -> Vec<(usize, usize)> {
    if length <= tile {
        return vec![(0, length)];
    }
    let (units, tile, overlap) = (
        length.div_ceil(align),
        tile / align,
        overlap.div_ceil(align),
    );
    let count = (units - overlap).div_ceil(tile - overlap);
    // The shortest tiles that still cover with the overlap, plus a unit for
    // rounding the starts.
    let size = ((units + (count - 1) * overlap).div_ceil(count) + 1).min(tile);
    // Even spacing: the first tile at 0, the last flush with the end.
    (0..count)
        .map(|i| {
            let start = ((units - size) as f64 * i as f64 / (count - 1) as f64).round() as usize;
            let start = start * align;
            (start, (size * align).min(length - start))
        })
        .collect()
}

/// How a tile's weight rises from an edge it shares with a neighbour, over
/// the overlap (at edges of the picture it is 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ramp {
    /// A raised cosine over the whole overlap, never quite 0, so every
    /// pixel keeps some of every tile over it. The optimisation's tiles:
    /// each starts from the picture blended so far, so all of it is good.
    RaisedCosine,
    /// 0 over the overlap's outer quarter, rising linearly to 1 over its
    /// middle half: a tile's outer quarter, where its padding stands in for
    /// the neighbour's pixels, is not used (the fast network's tiles).
    /// Neighbours sharing exactly the overlap have weights that sum to 1.
    Linear,
}

impl Ramp {
    /// The weight `from_edge` pixels in from a shared edge.
    fn weight(self, from_edge: usize, overlap: usize) -> f32 {
        let at = from_edge as f32 + 0.5;
        match self {
            Ramp::RaisedCosine => {
                let ramp = overlap.max(1);
                if from_edge >= ramp {
                    return 1.0;
                }
                let t = at / ramp as f32;
                (0.5 - 0.5 * (std::f32::consts::PI * t.min(1.0)).cos()).max(1e-4)
            }
            Ramp::Linear => {
                let o = overlap as f32;
                ((at - o / 4.0) / (o / 2.0)).clamp(0.0, 1.0)
            }
        }
    }

    /// The weights of a tile's `len` pixels along an axis, fading at the
    /// start and the end as asked.
    fn weights(self, len: usize, overlap: usize, fade_start: bool, fade_end: bool) -> Vec<f32> {
        (0..len)
            .map(|i| {
                let mut w = 1.0f32;
                if fade_start {
                    w = w.min(self.weight(i, overlap));
                }
                if fade_end {
                    w = w.min(self.weight(len - 1 - i, overlap));
                }
                w
            })
            .collect()
    }
}

/// Accumulates tiles into one picture: the weighted mean of every tile that
/// covers a pixel.
#[derive(Clone)]
pub struct Blender {
    width: usize,
    height: usize,
    overlap: usize,
    ramp: Ramp,
    sum: Tensor,
    weight: Vec<f32>,
}

impl Blender {
    /// A `width x height` picture of `channels`, from tiles that share
    /// `overlap` pixels, faded with `ramp`.
    pub fn new(channels: usize, width: usize, height: usize, overlap: usize, ramp: Ramp) -> Self {
        Self {
            width,
            height,
            overlap,
            ramp,
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
        let wx = self.ramp.weights(
            tile.width,
            self.overlap,
            tile.x > 0,
            tile.x + tile.width < self.width,
        );
        let wy = self.ramp.weights(
            tile.height,
            self.overlap,
            tile.y > 0,
            tile.y + tile.height < self.height,
        );
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

    /// The blended picture in the blender's own buffer (no copy of the
    /// picture's size); where no tile has weight, 0.
    pub fn into_blended(mut self) -> Tensor {
        for c in 0..self.sum.channels() {
            for (v, &w) in self.sum.plane_mut(c).iter_mut().zip(&self.weight) {
                if w > 0.0 {
                    *v /= w;
                }
            }
        }
        self.sum
    }

    /// The blended picture; where no tile has weight, `background`.
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

/// The `tile` of `image` (any number of channels).
pub fn crop(image: &Tensor, tile: Tile) -> Tensor {
    let mut out = Tensor::zeros(image.channels(), tile.height, tile.width);
    for c in 0..image.channels() {
        crop_plane(image.plane(c), image.width(), tile, out.plane_mut(c));
    }
    out
}

/// Copies the `tile` of `plane` (`width` pixels a row) into `out`, row by row.
pub(crate) fn crop_plane(plane: &[f32], width: usize, tile: Tile, out: &mut [f32]) {
    assert!(tile.x + tile.width <= width, "the tile lies in the picture");
    for (y, row) in out.chunks_exact_mut(tile.width).enumerate() {
        row.copy_from_slice(&plane[(tile.y + y) * width + tile.x..][..tile.width]);
    }
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

    fn plan(w: usize, h: usize, tile: usize, overlap: usize, align: usize) -> Vec<Tile> {
        Tiling { tile, overlap }.plan(w, h, align)
    }

    #[test]
    fn tiles_cover_the_image_with_the_asked_overlap() {
        for align in [1, 4] {
            for (w, h, tile, overlap) in [
                (1000, 700, 400, 64),
                (4096, 2731, 1024, 128),
                (300, 200, 512, 64),
                (513, 512, 512, 32),
                (97, 301, 40, 8),
                (320, 240, 192, 96),
            ] {
                let tiles = plan(w, h, tile, overlap, align);
                assert!(covered(&tiles, w, h).iter().all(|&c| c >= 1), "{w}x{h}");
                for t in &tiles {
                    assert!(
                        t.x + t.width <= w
                            && t.y + t.height <= h
                            && t.width <= tile
                            && t.height <= tile
                            && t.x % align == 0
                            && t.y % align == 0,
                        "{t:?}"
                    );
                }
                // Neighbours along a row, and down a column, overlap by at least `overlap`.
                let row: Vec<&Tile> = tiles.iter().filter(|t| t.y == 0).collect();
                for pair in row.windows(2) {
                    assert!(pair[0].x + pair[0].width >= pair[1].x + overlap, "{pair:?}");
                }
                let column: Vec<&Tile> = tiles.iter().filter(|t| t.x == 0).collect();
                for pair in column.windows(2) {
                    assert!(
                        pair[0].y + pair[0].height >= pair[1].y + overlap,
                        "{pair:?}"
                    );
                }
            }
        }
        assert_eq!(
            plan(300, 200, 512, 64, 1),
            vec![Tile {
                x: 0,
                y: 0,
                width: 300,
                height: 200
            }]
        );
        assert_eq!(
            Tiling {
                tile: 512,
                overlap: 64
            }
            .tiles(512, 300),
            None
        );
    }

    #[test]
    fn tiles_are_no_larger_than_the_overlaps_need() {
        // 4096 x 3072 in tiles of at most 1024 with 128 in common: 5 x 4 tiles
        // of 1024 would optimise 67% more pixels than the picture has; tiles
        // shrunk to 923 x 865 optimise 27% more.
        let (w, h, overlap) = (4096, 3072, 128);
        let tiles = plan(w, h, 1024, overlap, 1);
        assert_eq!(tiles.len(), 5 * 4);
        assert_eq!((tiles[0].width, tiles[0].height), (923, 865));
        let area: usize = tiles.iter().map(|t| t.width * t.height).sum();
        assert!((area as f64) < 1.3 * (w * h) as f64, "{area}");
        // Aligned to 4: the same count, sides rounded to whole units of 4.
        let aligned = plan(w, h, 1024, overlap, 4);
        assert_eq!(aligned.len(), 5 * 4);
        assert_eq!((aligned[0].width, aligned[0].height), (928, 868));
    }

    #[test]
    fn a_constant_image_stays_constant_across_seams() {
        let (w, h) = (500, 300);
        for (ramp, align) in [(Ramp::RaisedCosine, 1), (Ramp::Linear, 4)] {
            let tiles = plan(w, h, 200, 48, align);
            assert!(tiles.len() > 4);
            let mut blender = Blender::new(3, w, h, 48, ramp);
            for t in &tiles {
                let mut tile = Tensor::zeros(3, t.height, t.width);
                for c in 0..3 {
                    tile.plane_mut(c).fill(0.25 * (c + 1) as f32);
                }
                blender.add(*t, &tile);
            }
            // Every pixel has some weight: nothing of the background shows.
            let out = blender.finish(&Tensor::zeros(3, h, w));
            assert_eq!(out, blender.into_blended());
            for c in 0..3 {
                for &v in out.plane(c) {
                    assert!((v - 0.25 * (c + 1) as f32).abs() < 1e-6, "{ramp:?} {v}");
                }
            }
        }
    }

    #[test]
    fn blending_fades_smoothly_from_one_tile_to_the_next() {
        // Two tiles of different constants: across the overlap the result
        // moves monotonically from one to the other, without jumps.
        let (w, h) = (300, 10);
        let tiles = plan(w, h, 200, 100, 1);
        assert_eq!(tiles.len(), 2);
        let mut blender = Blender::new(1, w, h, 100, Ramp::RaisedCosine);
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
    fn linear_ramps_skip_the_outer_quarter_and_sum_to_1_over_the_overlap() {
        let overlap = 16;
        // A tile ending where its neighbour, `overlap` back, starts.
        let len = 40;
        let ending = Ramp::Linear.weights(len, overlap, false, true);
        let starting = Ramp::Linear.weights(len, overlap, true, false);
        assert!(ending[len - overlap / 4..].iter().all(|&w| w == 0.0));
        assert!(starting[..overlap / 4].iter().all(|&w| w == 0.0));
        for i in 0..overlap {
            let sum = ending[len - overlap + i] + starting[i];
            assert!((sum - 1.0).abs() < 1e-6, "{i}: {sum}");
        }
        // The raised cosine never drops to 0.
        let cosine = Ramp::RaisedCosine.weights(len, overlap, true, true);
        assert!(cosine.iter().all(|&w| w > 0.0) && cosine[len / 2] == 1.0);
    }

    #[test]
    fn crop_and_blend_of_the_whole_tiling_give_the_image_back() {
        let (w, h) = (257, 130);
        let image = Tensor::from_vec(2, h, w, (0..2 * w * h).map(|i| (i % 97) as f32).collect());
        for (ramp, align) in [(Ramp::RaisedCosine, 1), (Ramp::Linear, 4)] {
            let mut blender = Blender::new(2, w, h, 32, ramp);
            for t in plan(w, h, 100, 32, align) {
                blender.add(t, &crop(&image, t));
            }
            let out = blender.finish(&Tensor::zeros(2, h, w));
            for (a, b) in out.as_slice().iter().zip(image.as_slice()) {
                assert!((a - b).abs() < 1e-3, "{ramp:?}");
            }
        }
    }
}
