//! Element-wise activations of feed-forward networks, applied in place.

/// What follows a convolution or a normalisation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    /// Nothing.
    Identity,
    /// `max(x, 0)`.
    Relu,
    /// `min(max(x, 0), 6)`: MobileNet's, which keeps activations in an 8-bit friendly range.
    Relu6,
    /// `1 / (1 + e^-x)`: maps a network's last layer to pixel values in 0..1.
    Sigmoid,
}

impl Activation {
    #[inline(always)]
    pub fn apply(self, x: f32) -> f32 {
        match self {
            Activation::Identity => x,
            Activation::Relu => x.max(0.0),
            Activation::Relu6 => x.clamp(0.0, 6.0),
            Activation::Sigmoid => 1.0 / (1.0 + (-x).exp()),
        }
    }

    /// Applies the activation to every value.
    pub fn apply_slice(self, values: &mut [f32]) {
        match self {
            Activation::Identity => {}
            Activation::Relu => values.iter_mut().for_each(|v| *v = v.max(0.0)),
            Activation::Relu6 => values.iter_mut().for_each(|v| *v = v.clamp(0.0, 6.0)),
            Activation::Sigmoid => values
                .iter_mut()
                .for_each(|v| *v = 1.0 / (1.0 + (-*v).exp())),
        }
    }
}
