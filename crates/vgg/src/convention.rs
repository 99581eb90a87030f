//! How an RGB image becomes the network's input, which depends on how the
//! weights were trained.

use restyle_engine::Tensor;

/// The preprocessing a set of weights expects. restyle always works on RGB
/// images with values in 0..1; the network applies this on the way in and
/// its adjoint on the gradient's way out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputConvention {
    /// Caffe's: BGR, 0..255, minus the mean pixel (the original VGG weights).
    Caffe,
    /// torchvision's: RGB, 0..1, ImageNet mean and standard deviation.
    Torchvision,
}

const CAFFE_MEAN_BGR: [f32; 3] = [103.939, 116.779, 123.68];
const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];

impl InputConvention {
    /// For network input channel `c`: which RGB channel it reads, and the
    /// affine map `input = scale * rgb + offset`.
    fn channel_map(self, c: usize) -> (usize, f32, f32) {
        match self {
            InputConvention::Caffe => (2 - c, 255.0, -CAFFE_MEAN_BGR[c]),
            InputConvention::Torchvision => (
                c,
                1.0 / IMAGENET_STD[c],
                -IMAGENET_MEAN[c] / IMAGENET_STD[c],
            ),
        }
    }

    /// The network input for a 3-channel RGB image in 0..1.
    pub fn to_network(self, rgb: &Tensor) -> Tensor {
        assert_eq!(rgb.channels(), 3, "images have 3 channels");
        let mut out = Tensor::zeros(3, rgb.height(), rgb.width());
        for c in 0..3 {
            let (src, scale, offset) = self.channel_map(c);
            for (o, &v) in out.plane_mut(c).iter_mut().zip(rgb.plane(src)) {
                *o = scale * v + offset;
            }
        }
        out
    }

    /// The gradient with respect to the RGB image, from the one with respect
    /// to the network input.
    pub fn gradient_to_rgb(self, grad_input: &Tensor) -> Tensor {
        let mut out = Tensor::zeros(3, grad_input.height(), grad_input.width());
        for c in 0..3 {
            let (dst, scale, _) = self.channel_map(c);
            for (o, &g) in out.plane_mut(dst).iter_mut().zip(grad_input.plane(c)) {
                *o = scale * g;
            }
        }
        out
    }

    pub fn name(self) -> &'static str {
        match self {
            InputConvention::Caffe => "caffe",
            InputConvention::Torchvision => "torchvision",
        }
    }
}
