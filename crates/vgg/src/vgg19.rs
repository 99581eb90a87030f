//! VGG-19 (Simonyan & Zisserman, 2014), convolutional part, as Gatys et al.
//! use it: five blocks of 3x3 convolutions, each followed by a ReLU, each
//! block closed by 2x2 max pooling.
//!
//! ```text
//! block 1:  conv1_1 relu1_1 conv1_2 relu1_2                                  pool1    64 channels
//! block 2:  conv2_1 relu2_1 conv2_2 relu2_2                                  pool2   128
//! block 3:  conv3_1 relu3_1 conv3_2 relu3_2 conv3_3 relu3_3 conv3_4 relu3_4  pool3   256
//! block 4:  conv4_1 relu4_1 ...                             conv4_4 relu4_4  pool4   512
//! block 5:  conv5_1 relu5_1 ...                             conv5_4 relu5_4  pool5   512
//! ```
//!
//! The network only ever carries gradients back to its input image: the
//! forward pass keeps, per layer, just what that layer's backward step needs.

use std::path::Path;

use restyle_engine::{
    conv3x3_weight_bytes, conv3x3_workspace_bytes, maxpool2x2_backward, maxpool2x2_forward,
    relu_backward, relu_forward, Algorithm, Conv3x3, PoolArgmax, ReluMask, Tensor,
};

use crate::layers::convs_up_to;
use crate::weights::conv_shapes;
use crate::{InputConvention, Layer, Op, VggWeights, WeightsError};

/// VGG-19 with frozen weights.
pub struct Vgg19 {
    convs: Vec<Conv3x3>,
    convention: InputConvention,
}

/// What the convolutions read beyond the image's edges.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Borders {
    /// Zeros, as VGG-19 was trained.
    #[default]
    Zero,
    /// The opposite edge (circular padding): the image is treated as one
    /// tile of an endless wallpaper, so a result optimised this way tiles
    /// without seams.
    Wrap,
}

/// What the backward pass needs from one layer's forward pass.
enum Saved {
    Conv(usize),
    /// A convolution run on the input wrapped by one pixel (see [`Borders::Wrap`]).
    WrappedConv(usize),
    Relu(ReluMask),
    Pool(PoolArgmax),
}

/// A loss on the activations at some layers (the taps) of a pass, for
/// [`Vgg19::value_and_grad_of`].
pub trait TapLoss {
    /// Adds the gradient of the loss at `layer`, with respect to its
    /// activations `features`, into `grad` (the gradient flowing back at
    /// that layer, of the same shape), and returns the loss's value there.
    /// Called once per tap, deepest first, during the backward pass.
    fn add_gradient(&mut self, layer: Layer, features: &Tensor, grad: &mut Tensor) -> f64;
}

impl Vgg19 {
    pub fn new(weights: VggWeights) -> Self {
        Self::with_algorithm(weights, Algorithm::Auto)
    }

    /// With a chosen convolution algorithm (`Direct` is the plain path the
    /// fast one is checked and measured against).
    pub fn with_algorithm(weights: VggWeights, algorithm: Algorithm) -> Self {
        let convs = weights
            .convs
            .into_iter()
            .map(|c| {
                Conv3x3::with_algorithm(c.in_channels, c.out_channels, &c.weight, c.bias, algorithm)
            })
            .collect();
        Self {
            convs,
            convention: weights.convention,
        }
    }

    /// The original VGG-19 weights, compiled into restyle.
    pub fn embedded() -> Self {
        Self::new(VggWeights::embedded())
    }

    /// The embedded network, keeping only the layers up to `last`: the rest
    /// would never run, and their weights are a quarter of the network.
    pub fn embedded_up_to(last: Layer) -> Self {
        Self::new(VggWeights::embedded().truncated(last))
    }

    /// Weights from a file (restyle's .safetensors or a PyTorch .pth).
    pub fn from_file(path: &Path) -> Result<Self, WeightsError> {
        Ok(Self::new(VggWeights::from_file(path)?))
    }

    /// Drops every convolution after `last`.
    pub fn truncated(mut self, last: Layer) -> Self {
        self.convs.truncate(convs_up_to(last));
        self
    }

    /// The deepest layer this network can compute: the one just before the
    /// first convolution it does not have.
    pub fn deepest_layer(&self) -> Layer {
        match Layer::all().find(|l| l.op() == Op::Conv(self.convs.len())) {
            Some(first_missing) => Layer::all()
                .nth(first_missing.index() - 1)
                .expect("conv1_1 is always kept"),
            None => Layer::all().last().expect("VGG-19 has layers"),
        }
    }

    pub fn convention(&self) -> InputConvention {
        self.convention
    }

    /// Bytes held by the weights (forward and backward arrangements).
    pub fn weight_bytes(&self) -> usize {
        self.convs.iter().map(Conv3x3::weight_bytes).sum()
    }

    /// Floating-point operations of the convolutions up to `last` for an
    /// `height x width` image, forward only (a backward pass costs the same
    /// again, less the first convolution's).
    pub fn forward_flops(&self, last: Layer, height: usize, width: usize) -> u64 {
        let mut flops = 0;
        for l in Layer::all().take(last.index() + 1) {
            if let Op::Conv(i) = l.op() {
                let (h, w) = l.output_size(height, width);
                flops += self.convs[i].flops(h, w);
            }
        }
        flops
    }

    /// Peak heap bytes one [`Vgg19::value_and_grad`] call holds for an
    /// `height x width` image (not counting the image itself), found by
    /// replaying the pass's allocations: the activations alive at each
    /// layer, the ReLU masks and pooling indices kept for the backward pass,
    /// the gradients injected at taps, the convolutions' scratch, and what
    /// the loss callback allocates at each tap (`callback_bytes`, given the
    /// layer and its output's shape), which the caller knows.
    ///
    /// It bounds a [`Vgg19::value_and_grad_of`] call too: the activations
    /// kept at the taps take the injected gradients' place (same size, same
    /// lifetime), and the loss's temporaries come on the way back instead
    /// of on the way forward.
    pub fn step_memory_bytes(
        height: usize,
        width: usize,
        taps: &[Layer],
        callback_bytes: &dyn Fn(Layer, (usize, usize, usize)) -> usize,
    ) -> usize {
        let Some(&last) = taps.iter().max() else {
            return 0;
        };
        let f32s = |(c, h, w): (usize, usize, usize)| c * h * w * 4;
        let mut shape = (3, height, width);
        let mut live = f32s(shape); // the network input
        let mut peak = live;
        // What each layer leaves for the backward pass, and what it injects.
        let mut kept = Vec::new();
        let mut injected = Vec::new();
        let mut shapes = Vec::new();
        for layer in Layer::all().take(last.index() + 1) {
            let before = shape;
            shapes.push(before);
            let keep = match layer.op() {
                Op::Conv(i) => {
                    let (cin, cout) = conv_shapes()[i];
                    shape = (cout, before.1, before.2);
                    peak = peak.max(
                        live + f32s(shape) + conv3x3_workspace_bytes(cin, cout, before.1, before.2),
                    );
                    live = live - f32s(before) + f32s(shape);
                    0
                }
                Op::Relu => (before.0 * before.1 * before.2).div_ceil(64) * 8,
                Op::Pool => {
                    shape = (before.0, before.1 / 2, before.2 / 2);
                    let argmax = shape.0 * shape.1 * shape.2;
                    peak = peak.max(live + f32s(shape) + argmax);
                    live = live - f32s(before) + f32s(shape);
                    argmax
                }
            };
            live += keep;
            kept.push(keep);
            peak = peak.max(live);
            let tap = if taps.contains(&layer) {
                f32s(shape)
            } else {
                0
            };
            if tap > 0 {
                peak = peak.max(live + callback_bytes(layer, shape));
                live += tap;
            }
            injected.push(tap);
        }
        live -= f32s(shape); // the last activation is dropped before going back
        let mut gradient = 0; // bytes of the gradient being carried down
        let layers: Vec<Layer> = Layer::all().take(last.index() + 1).collect();
        for (index, &layer) in layers.iter().enumerate().rev() {
            if injected[index] > 0 {
                if gradient == 0 {
                    gradient = injected[index]; // the injected tensor becomes the gradient
                } else {
                    live -= injected[index]; // added in, then freed
                }
            }
            let input = f32s(shapes[index]);
            if gradient > 0 {
                match layer.op() {
                    Op::Conv(i) => {
                        let (_, h, w) = shapes[index];
                        let (cin, cout) = conv_shapes()[i];
                        peak = peak.max(live + input + conv3x3_workspace_bytes(cin, cout, h, w));
                        live = live - gradient + input;
                        gradient = input;
                    }
                    Op::Relu => {}
                    Op::Pool => {
                        peak = peak.max(live + input);
                        live = live - gradient + input;
                        gradient = input;
                    }
                }
            }
            live -= kept[index];
        }
        // The gradient with respect to the RGB image, made from the last one.
        peak.max(live + f32s((3, height, width)))
    }

    /// Peak heap bytes one [`Vgg19::features`] call holds for an
    /// `height x width` image: the pass's activations and scratch, and the
    /// copies of the asked layers' outputs it returns.
    pub fn features_memory_bytes(height: usize, width: usize, layers: &[Layer]) -> usize {
        let Some(&last) = layers.iter().max() else {
            return 0;
        };
        let f32s = |(c, h, w): (usize, usize, usize)| c * h * w * 4;
        let mut shape = (3, height, width);
        let mut live = f32s(shape);
        let mut peak = live;
        for layer in Layer::all().take(last.index() + 1) {
            let before = shape;
            match layer.op() {
                Op::Conv(i) => {
                    let (cin, cout) = conv_shapes()[i];
                    shape = (cout, before.1, before.2);
                    peak = peak.max(
                        live + f32s(shape) + conv3x3_workspace_bytes(cin, cout, before.1, before.2),
                    );
                    live = live - f32s(before) + f32s(shape);
                }
                Op::Relu => {
                    // The mask is made and dropped at once.
                    peak = peak.max(live + f32s(before).div_ceil(32));
                }
                Op::Pool => {
                    shape = (before.0, before.1 / 2, before.2 / 2);
                    peak = peak.max(live + f32s(shape) + shape.0 * shape.1 * shape.2);
                    live = live - f32s(before) + f32s(shape);
                }
            }
            if layers.contains(&layer) {
                live += f32s(shape);
                peak = peak.max(live);
            }
        }
        peak
    }

    /// Bytes the weights of the layers up to `last` take once built.
    pub fn weight_memory_bytes(last: Layer) -> usize {
        conv_shapes()
            .into_iter()
            .take(convs_up_to(last))
            .map(|(i, o)| conv3x3_weight_bytes(i, o))
            .sum()
    }

    /// Activations at `layers` for an RGB image with values in 0..1
    /// (3 x height x width), in the order asked.
    pub fn features(&self, image: &Tensor, layers: &[Layer]) -> Vec<Tensor> {
        self.features_with(image, layers, Borders::Zero)
    }

    /// [`Vgg19::features`] with the convolutions reading `borders` beyond the edges.
    pub fn features_with(&self, image: &Tensor, layers: &[Layer], borders: Borders) -> Vec<Tensor> {
        let mut found: Vec<Option<Tensor>> = vec![None; layers.len()];
        let last = layers.iter().max().copied();
        if let Some(last) = last {
            self.forward(image, last, false, borders, |layer, x| {
                for (slot, wanted) in found.iter_mut().zip(layers) {
                    if *wanted == layer {
                        *slot = Some(x.clone());
                    }
                }
                false
            });
        }
        found
            .into_iter()
            .map(|t| t.expect("every asked layer is reached"))
            .collect()
    }

    /// The value of a loss on activations, and its gradient with respect to
    /// the image.
    ///
    /// The forward pass runs to the deepest of `taps`; at each tap,
    /// `loss(layer, activation)` returns the loss there and its gradient with
    /// respect to that activation. The gradients are then carried back to
    /// the image. Each layer of `taps` is visited once.
    pub fn value_and_grad(
        &self,
        image: &Tensor,
        taps: &[Layer],
        loss: impl FnMut(Layer, &Tensor) -> (f64, Tensor),
    ) -> (f64, Tensor) {
        self.value_and_grad_with(image, taps, Borders::Zero, loss)
    }

    /// [`Vgg19::value_and_grad`] with the convolutions reading `borders`
    /// beyond the edges.
    pub fn value_and_grad_with(
        &self,
        image: &Tensor,
        taps: &[Layer],
        borders: Borders,
        mut loss: impl FnMut(Layer, &Tensor) -> (f64, Tensor),
    ) -> (f64, Tensor) {
        let Some(&last) = taps.iter().max() else {
            return (0.0, Tensor::zeros(3, image.height(), image.width()));
        };
        let mut total = 0.0;
        let mut injected: Vec<Option<Tensor>> = (0..=last.index()).map(|_| None).collect();
        let (tape, _) = self.forward(image, last, true, borders, |layer, x| {
            if taps.contains(&layer) && injected[layer.index()].is_none() {
                let (value, grad) = loss(layer, x);
                assert_eq!(
                    grad.shape(),
                    x.shape(),
                    "loss gradient at {layer} has the wrong shape"
                );
                total += value;
                injected[layer.index()] = Some(grad);
            }
            false
        });

        let mut grad: Option<Tensor> = None;
        for (index, saved) in tape.into_iter().enumerate().rev() {
            if let Some(g) = injected[index].take() {
                grad = Some(match grad {
                    None => g,
                    Some(mut acc) => {
                        acc.add_assign(&g);
                        acc
                    }
                });
            }
            if let Some(g) = grad.as_mut() {
                self.backward(saved, g);
            }
        }
        let grad = grad.expect("the deepest tap injects a gradient");
        (total, self.convention.gradient_to_rgb(&grad))
    }

    /// [`Vgg19::value_and_grad_with`] for a loss that adds its gradient
    /// into the one flowing back ([`TapLoss`]), on the way back: no tensor
    /// the size of a tap's activations is made for the loss's gradient, nor
    /// added in a pass of its own. The activations at the taps are kept from
    /// the forward pass instead.
    pub fn value_and_grad_of(
        &self,
        image: &Tensor,
        taps: &[Layer],
        borders: Borders,
        loss: &mut impl TapLoss,
    ) -> (f64, Tensor) {
        let Some(&last) = taps.iter().max() else {
            return (0.0, Tensor::zeros(3, image.height(), image.width()));
        };
        let (tape, mut kept) =
            self.forward(image, last, true, borders, |layer, _| taps.contains(&layer));
        let mut total = 0.0;
        let mut grad: Option<Tensor> = None;
        let layers: Vec<Layer> = Layer::all().take(last.index() + 1).collect();
        for (index, saved) in tape.into_iter().enumerate().rev() {
            if let Some(features) = kept[index].take() {
                let (c, h, w) = features.shape();
                let g = grad.get_or_insert_with(|| Tensor::zeros(c, h, w));
                total += loss.add_gradient(layers[index], &features, g);
            }
            if let Some(g) = grad.as_mut() {
                self.backward(saved, g);
            }
        }
        let grad = grad.expect("the deepest tap adds a gradient");
        (total, self.convention.gradient_to_rgb(&grad))
    }

    /// Runs the layers up to `last`, showing each output to `visit`; with
    /// `keep_tape`, returns what the backward pass needs. Where `visit`
    /// returns true, that layer's output is kept too (moved where the next
    /// layer makes a new tensor, copied where it works in place), by layer
    /// index.
    fn forward(
        &self,
        image: &Tensor,
        last: Layer,
        keep_tape: bool,
        borders: Borders,
        mut visit: impl FnMut(Layer, &Tensor) -> bool,
    ) -> (Vec<Saved>, Vec<Option<Tensor>>) {
        assert!(
            last <= self.deepest_layer(),
            "{last} is deeper than this network's last layer, {}",
            self.deepest_layer()
        );
        let mut x = self.convention.to_network(image);
        let mut tape = Vec::new();
        let mut kept: Vec<Option<Tensor>> = (0..=last.index()).map(|_| None).collect();
        // The layer whose output `x` holds, if it is to be kept.
        let mut keep: Option<usize> = None;
        // `x` becomes `next`; the old `x` goes to `kept` if it is to be kept.
        fn replace(x: &mut Tensor, next: Tensor, keep: Option<usize>, kept: &mut [Option<Tensor>]) {
            let old = std::mem::replace(x, next);
            if let Some(index) = keep {
                kept[index] = Some(old);
            }
        }
        for layer in Layer::all().take(last.index() + 1) {
            let saved = match layer.op() {
                Op::Conv(i) if borders == Borders::Wrap => {
                    // The engine's convolution pads with zeros; run it on the
                    // input already wrapped by one pixel and keep the inside,
                    // where every output read only wrapped pixels. Costs
                    // (h+2)(w+2)/(hw) of a plain convolution and leaves the
                    // engine's kernels as they are.
                    let next = unpad(&self.convs[i].forward(&wrap(&x)));
                    replace(&mut x, next, keep, &mut kept);
                    Saved::WrappedConv(i)
                }
                Op::Conv(i) => {
                    let next = self.convs[i].forward(&x);
                    replace(&mut x, next, keep, &mut kept);
                    Saved::Conv(i)
                }
                Op::Relu => {
                    if let Some(index) = keep {
                        kept[index] = Some(x.clone());
                    }
                    Saved::Relu(relu_forward(&mut x))
                }
                Op::Pool => {
                    let (pooled, argmax) = maxpool2x2_forward(&x);
                    replace(&mut x, pooled, keep, &mut kept);
                    Saved::Pool(argmax)
                }
            };
            keep = visit(layer, &x).then_some(layer.index());
            if keep_tape {
                tape.push(saved);
            }
        }
        if let Some(index) = keep {
            kept[index] = Some(x);
        }
        (tape, kept)
    }

    /// Carries `grad` back through one layer of the tape.
    fn backward(&self, saved: Saved, grad: &mut Tensor) {
        match saved {
            Saved::Conv(i) => *grad = self.convs[i].backward_input(grad),
            Saved::WrappedConv(i) => {
                *grad = fold_wrap(&self.convs[i].backward_input(&pad_zero(grad)));
            }
            Saved::Relu(mask) => relu_backward(&mask, grad),
            Saved::Pool(argmax) => *grad = maxpool2x2_backward(&argmax, grad),
        }
    }
}

/// `x` with one pixel of the opposite edge added on every side.
fn wrap(x: &Tensor) -> Tensor {
    let (c, h, w) = x.shape();
    let (ph, pw) = (h + 2, w + 2);
    let mut out = Tensor::zeros(c, ph, pw);
    for ch in 0..c {
        let src = x.plane(ch);
        let dst = out.plane_mut(ch);
        for y in 0..ph {
            let sy = (y + h - 1) % h;
            for xx in 0..pw {
                dst[y * pw + xx] = src[sy * w + (xx + w - 1) % w];
            }
        }
    }
    out
}

/// The inside of a tensor padded by one pixel on every side.
fn unpad(x: &Tensor) -> Tensor {
    let (c, ph, pw) = x.shape();
    let (h, w) = (ph - 2, pw - 2);
    let mut out = Tensor::zeros(c, h, w);
    for ch in 0..c {
        let src = x.plane(ch);
        let dst = out.plane_mut(ch);
        for y in 0..h {
            dst[y * w..(y + 1) * w].copy_from_slice(&src[(y + 1) * pw + 1..(y + 1) * pw + 1 + w]);
        }
    }
    out
}

/// The gradient of [`unpad`]: `g` with a border of zeros.
fn pad_zero(g: &Tensor) -> Tensor {
    let (c, h, w) = g.shape();
    let pw = w + 2;
    let mut out = Tensor::zeros(c, h + 2, pw);
    for ch in 0..c {
        let src = g.plane(ch);
        let dst = out.plane_mut(ch);
        for y in 0..h {
            dst[(y + 1) * pw + 1..(y + 1) * pw + 1 + w].copy_from_slice(&src[y * w..(y + 1) * w]);
        }
    }
    out
}

/// The gradient of [`wrap`]: each padded pixel's gradient added to the
/// pixel it copied.
fn fold_wrap(g: &Tensor) -> Tensor {
    let (c, ph, pw) = g.shape();
    let (h, w) = (ph - 2, pw - 2);
    let mut out = Tensor::zeros(c, h, w);
    for ch in 0..c {
        let src = g.plane(ch);
        let dst = out.plane_mut(ch);
        for y in 0..ph {
            let sy = (y + h - 1) % h;
            for xx in 0..pw {
                dst[sy * w + (xx + w - 1) % w] += src[y * pw + xx];
            }
        }
    }
    out
}

#[cfg(test)]
mod wrap_tests {
    use super::*;

    #[test]
    fn wrapped_convolutions_commute_with_circular_shifts() {
        // With wrapped borders, shifting the image around its edges shifts
        // the features the same way (by whole positions of the layer); with
        // zero borders it does not.
        let layer: Layer = "relu2_1".parse().unwrap();
        let net = Vgg19::embedded_up_to(layer);
        let (h, w) = (16, 20);
        let image = Tensor::from_vec(
            3,
            h,
            w,
            (0..3 * h * w)
                .map(|i| 0.5 + 0.4 * ((i as f32 * 0.37).sin()))
                .collect(),
        );
        let shift = |t: &Tensor, dy: usize, dx: usize| {
            let (c, h, w) = t.shape();
            let mut out = Tensor::zeros(c, h, w);
            for ch in 0..c {
                for y in 0..h {
                    for x in 0..w {
                        out.plane_mut(ch)[((y + dy) % h) * w + (x + dx) % w] = t.get(ch, y, x);
                    }
                }
            }
            out
        };
        let moved = shift(&image, 4, 6);
        let error = |borders| {
            let a = &net.features_with(&image, &[layer], borders)[0];
            let b = &net.features_with(&moved, &[layer], borders)[0];
            let a = shift(a, 2, 3); // relu2_1 is at half resolution
            let diff: f32 = a
                .as_slice()
                .iter()
                .zip(b.as_slice())
                .map(|(p, q)| (p - q).abs())
                .sum();
            let norm: f32 = b.as_slice().iter().map(|v| v.abs()).sum();
            diff / norm
        };
        assert!(error(Borders::Wrap) < 1e-4, "{}", error(Borders::Wrap));
        assert!(error(Borders::Zero) > 1e-2, "{}", error(Borders::Zero));
    }

    #[test]
    fn the_wrap_gradient_is_the_adjoint_of_the_wrap() {
        // <wrap(x), y> == <x, fold_wrap(y)> and <unpad(p), g> == <p, pad_zero(g)>.
        let x = Tensor::from_vec(2, 3, 4, (0..24).map(|i| i as f32 * 0.1 - 1.0).collect());
        let y = Tensor::from_vec(2, 5, 6, (0..60).map(|i| (i as f32 * 0.7).cos()).collect());
        let dot = |a: &Tensor, b: &Tensor| -> f32 {
            a.as_slice()
                .iter()
                .zip(b.as_slice())
                .map(|(p, q)| p * q)
                .sum()
        };
        assert!((dot(&wrap(&x), &y) - dot(&x, &fold_wrap(&y))).abs() < 1e-4);
        assert!((dot(&unpad(&y), &x) - dot(&y, &pad_zero(&x))).abs() < 1e-4);
    }
}
