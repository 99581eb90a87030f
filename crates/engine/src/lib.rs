//! The tensor engine behind restyle, on the CPU: everything VGG-19 needs to
//! run forward and to carry gradients back to its input image, and what the
//! fast style model needs to run forward.
//!
//! VGG-19 is made of three operations: 3x3 convolutions (stride 1, padding 1;
//! Winograd's or direct, [`Conv3x3`]), ReLU and 2x2 max pooling. Each is a
//! forward function that returns what its backward pass needs and nothing
//! more (a bit per element for ReLU, a byte per output for pooling, nothing
//! at all for a convolution, whose input gradient needs only its weights).
//! There is no autograd and no weight gradient: restyle optimises pixels,
//! never weights.
//!
//! The fast (feed-forward) style model runs forward only, on convolutions of
//! any kernel size and stride with padding and upsampling fused
//! ([`conv2d`], [`pad`], [`upsample`]), depthwise convolutions
//! ([`depthwise`]), instance normalisation ([`norm`]) and element-wise
//! activations ([`activation`]).
//!
//! Underneath are the matrix products ([`gemm`]: general, prepacked,
//! parallel by columns, symmetric, and in bf16 for the style losses) and how
//! a run keeps the large buffers it frees ([`allocator`]).
//!
//! ```
//! use restyle_engine::{Conv3x3, Tensor, relu_forward, relu_backward};
//!
//! // One input channel, one output channel, a kernel that sums the 3x3 window.
//! let conv = Conv3x3::new(1, 1, vec![1.0; 9], vec![0.0]);
//! let x = Tensor::from_vec(1, 2, 2, vec![1.0, 2.0, 3.0, -20.0]);
//! let mut y = conv.forward(&x);
//! assert_eq!(y.as_slice(), &[-14.0; 4]);
//!
//! let mask = relu_forward(&mut y);           // y is now all zeros
//! let mut grad = Tensor::from_vec(1, 2, 2, vec![1.0; 4]);
//! relu_backward(&mask, &mut grad);           // nothing passes a dead ReLU
//! assert_eq!(conv.backward_input(&grad).as_slice(), &[0.0; 4]);
//! ```

pub mod allocator;
mod conv;
pub mod gemm;
mod pool;
#[cfg(test)]
mod reference;
mod relu;
mod shared_mut;
mod tensor;
mod winograd;

pub use conv::{conv3x3_weight_bytes, conv3x3_workspace_bytes, Algorithm, Conv3x3};
pub use pool::{maxpool2x2_backward, maxpool2x2_forward, PoolArgmax};
pub use relu::{relu_backward, relu_forward, ReluMask};
pub use shared_mut::SharedMut;
pub use tensor::Tensor;
pub use winograd::WinogradConv;

// Forward-only operations of the fast (feed-forward) style model: any kernel size and
// stride, depthwise convolutions, padding, nearest upsampling, instance normalisation.
pub mod activation;
pub mod conv2d;
pub mod depthwise;
pub mod norm;
pub mod pad;
pub mod upsample;

// Weights, and the safetensors files both models' weights are stored in.
pub mod weights;
