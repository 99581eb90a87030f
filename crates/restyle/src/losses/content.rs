//! Content loss: how far the activations are from the content image's.

use restyle_engine::Tensor;

use super::sum_of_squares;

/// `|F - P|^2 / |P|^2` for activations `F` and the content image's `P`.
#[derive(Clone, Debug)]
pub struct ContentLoss {
    target: Tensor,
    /// `1 / |P|^2`.
    scale: f64,
}

impl ContentLoss {
    pub fn new(target: Tensor) -> Self {
        let norm2: f64 = target.as_slice().iter().map(|&v| v as f64 * v as f64).sum();
        Self {
            scale: 1.0 / norm2.max(f64::MIN_POSITIVE),
            target,
        }
    }

    pub fn target(&self) -> &Tensor {
        &self.target
    }

    /// The loss and its gradient `2 (F - P) / |P|^2`.
    pub fn value_and_grad(&self, features: &Tensor) -> (f64, Tensor) {
        self.value_and_weighted_grad(features, 1.0)
    }

    /// The loss, and its gradient times `weight` (the objective's weight
    /// for this term), made in the same pass.
    pub fn value_and_weighted_grad(&self, features: &Tensor, weight: f32) -> (f64, Tensor) {
        assert_eq!(
            features.shape(),
            self.target.shape(),
            "content features and target differ in shape"
        );
        let mut grad = features.clone();
        let mut sum = 0.0f64;
        let factor = (2.0 * self.scale) as f32 * weight;
        for (g, &p) in grad.as_mut_slice().iter_mut().zip(self.target.as_slice()) {
            let d = *g - p;
            sum += d as f64 * d as f64;
            *g = factor * d;
        }
        (sum * self.scale, grad)
    }

    /// The loss, with its gradient times `weight` added into `grad`, in
    /// one pass.
    pub fn add_weighted_grad(&self, features: &Tensor, weight: f32, grad: &mut Tensor) -> f64 {
        assert_eq!(
            features.shape(),
            self.target.shape(),
            "content features and target differ in shape"
        );
        assert_eq!(
            grad.shape(),
            features.shape(),
            "content gradient and features differ in shape"
        );
        let factor = (2.0 * self.scale) as f32 * weight;
        // In blocks, the squares summed in 8 running sums: one sum was a
        // chain of dependent additions as long as the layer (1.5 million
        // at conv4_2, 512x384).
        let mut sum = 0.0f64;
        let mut diff = [0.0f32; 256];
        for ((g, f), p) in grad
            .as_mut_slice()
            .chunks_mut(diff.len())
            .zip(features.as_slice().chunks(diff.len()))
            .zip(self.target.as_slice().chunks(diff.len()))
        {
            let diff = &mut diff[..g.len()];
            for ((d, &f), &p) in diff.iter_mut().zip(f).zip(p) {
                *d = f - p;
            }
            for (g, &d) in g.iter_mut().zip(diff.iter()) {
                *g += factor * d;
            }
            sum += sum_of_squares(diff);
        }
        sum * self.scale
    }
}
