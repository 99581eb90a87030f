//! The three terms of Gatys et al.'s objective, each a small function of
//! activations (or pixels) that returns its value and gradient.
//!
//! Content and style losses are relative errors (squared error divided by
//! the target's squared norm), so their size does not depend on the image
//! size, the layer or the weights file: the default weights work at any
//! resolution and on any layer.

mod content;
mod style;
mod tv;

pub use content::ContentLoss;
pub use style::{gram, guided_gram, Gram, GuidedStyleLoss, StyleLoss};
pub use tv::{total_variation, wrapped_total_variation};
