//! The library's errors: each says what is wrong in words a user can act on,
//! and carries the offending values, so that a front end (the command line,
//! the web page) can say it in its own terms.

use std::fmt;

use restyle_vgg::Layer;

use restyle_image::io::ImageFileError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Image(#[from] ImageFileError),
    #[error(transparent)]
    Weights(#[from] restyle_vgg::WeightsError),
    #[error(transparent)]
    Layer(#[from] restyle_vgg::UnknownLayer),
    /// A setting out of range, or settings that contradict each other.
    #[error(transparent)]
    Settings(#[from] SettingsError),
    /// The optimisation produced non-finite values.
    #[error("the optimisation diverged at step {step} (the loss became {value})")]
    Diverged { step: usize, value: f64 },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A setting out of range, or settings that contradict each other.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum SettingsError {
    #[error("the output size must be at least 1 pixel")]
    ZeroSize,
    #[error("{what} must be a number >= 0, not {value}")]
    Weight { what: WeightOf, value: f32 },
    #[error("the style scale must be a number > 0, not {0}")]
    StyleScale(f32),
    #[error("the learning rate must be a number > 0, not {0}")]
    LearningRate(f32),
    #[error("the number of scales must be at least 1")]
    ZeroScales,
    #[error("the start size must be at least 1 pixel")]
    ZeroStartSize,
    #[error(
        "tiles must be at least 64 pixels and overlap by less than half their size \
         (tile {tile}, overlap {overlap})"
    )]
    Tiling { tile: usize, overlap: usize },
    #[error(
        "the stopping rule needs a window of at least 1 step and a tolerance >= 0 \
         (window {window}, tolerance {tolerance})"
    )]
    StopRule { window: usize, tolerance: f64 },
    #[error("L-BFGS needs a history of at least 1")]
    ZeroLbfgsHistory,
    #[error("no content or style layers: there is nothing to optimise")]
    NoLayers,
    #[error("at least one style image is needed")]
    NoStyleImage,
    #[error("the style blend weights add up to zero")]
    BlendWeightsSumToZero,
    /// An image at the size it would be optimised or measured at is smaller
    /// than the deepest layer used allows.
    #[error(
        "{image} would be {width}x{height} pixels; the layers used need at least {min} on each side"
    )]
    TooSmall {
        image: SizedImage,
        width: usize,
        height: usize,
        min: usize,
    },
    /// A region's mask with no weight anywhere.
    #[error("{0} is all black: it marks no region")]
    BlankMask(MaskOf),
    #[error(
        "a seamless result cannot be optimised in tiles; make it smaller or allow more memory"
    )]
    SeamlessTiles,
    #[error("layer {layer} is deeper than the network's last layer, {deepest}")]
    DeeperThanNetwork { layer: Layer, deepest: Layer },
    #[error("no blocks to reconstruct from")]
    NoBlocks,
    #[error("VGG-19 has blocks 1 to 5, not {0}")]
    NoSuchBlock(usize),
    #[error("reconstructions need a size of at least {min} pixels")]
    ReconstructionSize { min: usize },
    #[error("the reconstructions would be {width}x{height}; each side needs {min} pixels")]
    ReconstructionTooSmall {
        width: usize,
        height: usize,
        min: usize,
    },
}

/// Which weight [`SettingsError::Weight`] is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WeightOf {
    Content,
    Style,
    TotalVariation,
    /// A content or style layer's relative weight.
    Layer(Layer),
    /// A style image's share in a blend.
    StyleBlend,
    /// A clip's frame's pull towards the previous one.
    Temporal,
}

impl fmt::Display for WeightOf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WeightOf::Content => f.write_str("the content weight"),
            WeightOf::Style => f.write_str("the style weight"),
            WeightOf::TotalVariation => f.write_str("the total-variation weight"),
            WeightOf::Layer(layer) => write!(f, "the weight of layer {layer}"),
            WeightOf::StyleBlend => f.write_str("a style blend weight"),
            WeightOf::Temporal => f.write_str("the temporal weight"),
        }
    }
}

/// Which mask [`SettingsError::BlankMask`] is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MaskOf {
    /// Where style image `n` (numbered from 1) goes.
    Region(usize),
    /// Which part of style image `n` is used.
    Style(usize),
    /// The part kept as the photo.
    Keep,
}

impl fmt::Display for MaskOf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MaskOf::Region(n) => write!(f, "the mask of style image {n}"),
            MaskOf::Style(n) => write!(f, "the style mask of style image {n}"),
            MaskOf::Keep => f.write_str("the mask of the part to keep"),
        }
    }
}

/// Which image [`SettingsError::TooSmall`] is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SizedImage {
    /// The result (at its first, coarsest size).
    Output,
    /// A style image, numbered from 1, resized by the style scale.
    Style(usize),
}

impl fmt::Display for SizedImage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SizedImage::Output => f.write_str("the output"),
            SizedImage::Style(n) => write!(f, "style image {n}"),
        }
    }
}
