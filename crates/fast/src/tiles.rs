//! Painting a picture larger than memory allows in tiles (`--method fast --tile`).
//!
//! T is fully convolutional except for its conditional instance normalisations, whose
//! statistics span the whole picture: tiles normalised each with their own would differ in
//! brightness and contrast. So the statistics are measured once, on the whole picture
//! scaled down to [`FastTiling::statistics_size`] (the CLI takes the largest size that fits
//! in memory), and every tile is normalised with those ([`Transformer::stylize_with`]). The
//! alternative, gathering each normalisation's statistics over all tiles at full size, is
//! exact but needs one pass over the tiles per normalisation (13 of them: each layer's
//! statistics depend on the ones before), about eight times the work. Measured on
//! Tübingen at 320 px (`tests/tiles.rs`): with the picture's own statistics the tiles
//! differ from the whole by at most 0.008 (mean 0.0002, values 0..1); statistics from a
//! copy at 3/4 of the size move the mean difference to about 0.02, at half to 0.05.
//!
//! The tiles are restyle-image's ([`Tiling::plan`]), starting at multiples of 4 so that their
//! stride-2 and upsampling grids line up with the whole picture's; neighbours share at least
//! `overlap` pixels, blended with linear ramps ([`Ramp::Linear`]) that leave out the outer
//! quarter of each tile's overlap, where its reflection padding stands in for the
//! neighbour's pixels.

use restyle_engine::Tensor;
use restyle_image::tiles::{crop, Blender, Ramp, Tiling};
use restyle_image::Image;

use crate::model::{Transformer, MIN_CONTENT_SIZE};
use crate::{Result, StyleVector};

/// Tiles start at multiples of 4: T's two stride-2 contractions then see the whole picture's
/// grid.
const ALIGN: usize = 4;

/// How to paint in tiles.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FastTiling {
    /// The tiles: their side (rounded down to a multiple of 4) and the pixels neighbours share
    /// (rounded down to a multiple of 4, at least [`MIN_CONTENT_SIZE`], at most half a tile).
    pub tiling: Tiling,
    /// The long edge of the scaled-down copy the normalisation statistics come from.
    pub statistics_size: usize,
}

impl Default for FastTiling {
    /// 1024 px tiles (about 90 MB each), 128 px shared (the network reaches about 60 px),
    /// statistics at 2048 px.
    fn default() -> Self {
        Self {
            tiling: Tiling {
                tile: 1024,
                overlap: 128,
            },
            statistics_size: 2048,
        }
    }
}

impl FastTiling {
    /// Tile side and overlap as used: multiples of 4, the overlap at least
    /// [`MIN_CONTENT_SIZE`] and at most half a tile.
    fn sides(&self) -> Tiling {
        let tile = (self.tiling.tile / 4 * 4).max(4 * MIN_CONTENT_SIZE);
        let overlap = (self.tiling.overlap / 4 * 4).clamp(MIN_CONTENT_SIZE, tile / 2);
        Tiling { tile, overlap }
    }

    /// Bytes painting a `width x height` picture in these tiles needs at most, beyond the
    /// weights: one tile's worth of [`crate::memory_bytes`] or the statistics copy's, and
    /// the content with the blended output and its weights (7 floats a pixel).
    pub fn memory_bytes(&self, width: usize, height: usize, threads: usize) -> u64 {
        let tile = self.sides().tile;
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

/// `content` (`3 x H x W`, 0..1) painted in `style` tile by tile, each tile normalised with
/// the statistics of the whole picture scaled down to `tiling.statistics_size`.
pub fn stylize_tiled(
    transformer: &Transformer,
    content: &Tensor,
    style: &StyleVector,
    tiling: &FastTiling,
) -> Result<Tensor> {
    let (_, height, width) = content.shape();
    let sides = tiling.sides();
    let (sw, sh) = scaled(width, height, tiling.statistics_size);
    let statistics = if (sw, sh) == (width, height) {
        transformer.statistics(content, style)?
    } else {
        transformer.statistics(&resize(content, sw, sh), style)?
    };
    let mut blender = Blender::new(3, width, height, sides.overlap, Ramp::Linear);
    for tile in sides.plan(width, height, ALIGN) {
        let painted = transformer.stylize_with(&crop(content, tile), style, &statistics)?;
        blender.add(tile, &painted);
    }
    Ok(blender.into_blended())
}

/// `t` resized to `width x height` (as restyle resizes images).
fn resize(t: &Tensor, width: usize, height: usize) -> Tensor {
    Image::from_tensor(t.clone())
        .resized(width, height)
        .into_tensor()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sides_are_multiples_of_4_the_overlap_within_its_bounds() {
        let sides = |tile, overlap| {
            FastTiling {
                tiling: Tiling { tile, overlap },
                statistics_size: 0,
            }
            .sides()
        };
        assert_eq!(
            sides(1023, 130),
            Tiling {
                tile: 1020,
                overlap: 128
            }
        );
        assert_eq!(
            sides(100, 2),
            Tiling {
                tile: 100,
                overlap: MIN_CONTENT_SIZE
            }
        );
        assert_eq!(
            sides(100, 90),
            Tiling {
                tile: 100,
                overlap: 50
            }
        );
        assert_eq!(
            sides(5, 0),
            Tiling {
                tile: 4 * MIN_CONTENT_SIZE,
                overlap: MIN_CONTENT_SIZE
            }
        );
    }
}
