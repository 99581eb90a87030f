//! The three terms of Gatys et al.'s objective, each a small function of
//! activations (or pixels) that returns its value and gradient; and Ruder et
//! al.'s temporal term for the frames of a clip.
//!
//! Content and style losses are relative errors (squared error divided by
//! the target's squared norm), so their size does not depend on the image
//! size, the layer or the weights file: the default weights work at any
//! resolution and on any layer.

mod content;
mod style;
mod temporal;
mod tv;

pub use content::ContentLoss;
pub use style::{gram, guided_gram, Gram, GuidedStyleLoss, StyleLoss};
pub use temporal::temporal_loss;
pub use tv::{total_variation, wrapped_total_variation};

/// `sum d^2` in f64, in 8 running sums (independent, so they vectorise).
fn sum_of_squares(values: &[f32]) -> f64 {
    let mut lanes = [0.0f64; 8];
    let chunks = values.chunks_exact(8);
    let rest: f64 = chunks
        .remainder()
        .iter()
        .map(|&d| d as f64 * d as f64)
        .sum();
    for chunk in chunks {
        for (lane, &d) in lanes.iter_mut().zip(chunk) {
            *lane += d as f64 * d as f64;
        }
    }
    lanes.iter().sum::<f64>() + rest
}
