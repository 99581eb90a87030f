//! The two networks of Ghiasi et al.'s figure 2, as Magenta's lite model builds them.
//!
//! ```text
//! style image (256x256) --P--> S (100 numbers) --+--> gamma_i, beta_i = 1x1 projections of S
//!                                                |
//! content (any size) --T: contract -> 5 residual blocks -> expand--> stylized image
//! ```
//!
//! - P, the style prediction network: a MobileNetV2 (the lite model distils the paper's
//!   Inception-v3 into it), global average pooling, and a 1x1 convolution to 100 numbers.
//! - T, the style transfer network: three convolutions that contract the image (9x9, then two
//!   3x3 of stride 2; their batch norms are folded into their biases), five residual blocks at a
//!   quarter of the size, and three that expand it back (nearest 2x upsampling and 3x3, twice,
//!   then 9x9 and a sigmoid). Every convolution after the contraction is followed by a
//!   conditional instance normalisation whose scale and shift (gamma, beta) are 1x1
//!   projections of S. All padding is a reflection.

use restyle_engine::activation::Activation;
use restyle_engine::conv2d::Conv2d;
use restyle_engine::depthwise::DepthwiseConv3x3;
use restyle_engine::norm::{global_average_pool, instance_norm, Moments};
use restyle_engine::pad::Padding;
use restyle_engine::Tensor;
use restyle_image::tiles::{crop, Tile};

use crate::weights::WeightsFile;
use crate::{Error, Result};

/// The side of the square style image P reads.
pub const STYLE_SIZE: usize = 256;
/// The length of a style vector S.
pub const STYLE_DIMS: usize = 100;
/// The smallest side T accepts: its reflections need 5 pixels at full size and 2 at a quarter.
pub const MIN_CONTENT_SIZE: usize = 8;

/// A point in the style space: what P makes of a painting.
#[derive(Clone, Debug, PartialEq)]
pub struct StyleVector(pub Vec<f32>);

impl StyleVector {
    /// `sum w_i S_i / sum w_i`: several styles blended, as Ghiasi et al. interpolate them.
    ///
    /// # Panics
    /// If `parts` is empty or the weights do not sum to a positive number.
    pub fn blend(parts: &[(&StyleVector, f32)]) -> StyleVector {
        let total: f32 = parts.iter().map(|(_, w)| w).sum();
        assert!(total > 0.0, "blend weights must sum to a positive number");
        let mut out = vec![0.0; STYLE_DIMS];
        for (s, w) in parts {
            for (o, v) in out.iter_mut().zip(&s.0) {
                *o += v * w / total;
            }
        }
        StyleVector(out)
    }

    fn as_tensor(&self) -> Tensor {
        Tensor::from_vec(STYLE_DIMS, 1, 1, self.0.clone())
    }
}

/// P: MobileNetV2 to a style vector.
pub struct StylePredictor {
    stem: Conv2d,
    blocks: Vec<InvertedResidual>,
    head: Conv2d,
    bottleneck: Conv2d,
}

/// MobileNetV2's block: 1x1 expansion (ReLU6), 3x3 depthwise (ReLU6), 1x1 linear
/// projection, and the input added back when the shape allows.
struct InvertedResidual {
    expand: Option<Conv2d>,
    depthwise: DepthwiseConv3x3,
    project: Conv2d,
    residual: bool,
}

/// MobileNetV2's table (Sandler et al. 2018): expansion t, output channels c, repeats n,
/// first stride s.
const MOBILENET_V2: [(usize, usize, usize, usize); 7] = [
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
];

/// TensorFlow's SAME padding of a stride-2 3x3 on an even size: one row and column of zeros
/// after, none before.
const SAME_STRIDE_2: Padding = Padding::Zero {
    top: 0,
    left: 0,
    bottom: 1,
    right: 1,
};

fn conv(
    file: &WeightsFile<'_>,
    name: &str,
    (out, cin, kernel): (usize, usize, usize),
    stride: usize,
    padding: Padding,
) -> Result<Conv2d> {
    let w = file.conv(name, out, cin, kernel)?;
    Ok(Conv2d::new(
        cin, out, kernel, stride, padding, &w.weight, w.bias,
    ))
}

impl StylePredictor {
    pub fn load(file: &WeightsFile<'_>) -> Result<Self> {
        let stem = conv(file, "MobilenetV2/Conv", (32, 3, 3), 2, SAME_STRIDE_2)?
            .with_activation(Activation::Relu6);
        let mut blocks = Vec::new();
        let mut cin = 32;
        for (t, c, n, s) in MOBILENET_V2 {
            for repeat in 0..n {
                let scope = match blocks.len() {
                    0 => "MobilenetV2/expanded_conv".to_string(),
                    i => format!("MobilenetV2/expanded_conv_{i}"),
                };
                let hidden = cin * t;
                let stride = if repeat == 0 { s } else { 1 };
                let expand = (t != 1)
                    .then(|| {
                        conv(
                            file,
                            &format!("{scope}/expand"),
                            (hidden, cin, 1),
                            1,
                            Padding::NONE,
                        )
                    })
                    .transpose()?
                    .map(|e| e.with_activation(Activation::Relu6));
                let dw = file.conv(&format!("{scope}/depthwise"), hidden, 1, 3)?;
                let padding = if stride == 2 {
                    SAME_STRIDE_2
                } else {
                    Padding::zeros(1)
                };
                blocks.push(InvertedResidual {
                    expand,
                    depthwise: DepthwiseConv3x3::new(
                        hidden,
                        stride,
                        padding,
                        dw.weight,
                        dw.bias,
                        Activation::Relu6,
                    ),
                    project: conv(
                        file,
                        &format!("{scope}/project"),
                        (c, hidden, 1),
                        1,
                        Padding::NONE,
                    )?,
                    residual: stride == 1 && cin == c,
                });
                cin = c;
            }
        }
        Ok(Self {
            stem,
            blocks,
            head: conv(file, "MobilenetV2/Conv_1", (1280, 320, 1), 1, Padding::NONE)?
                .with_activation(Activation::Relu6),
            bottleneck: conv(
                file,
                "mobilenet_conv/Conv",
                (STYLE_DIMS, 1280, 1),
                1,
                Padding::NONE,
            )?,
        })
    }

    /// S for a `3 x 256 x 256` image with values in 0..1.
    pub fn predict(&self, style: &Tensor) -> Result<StyleVector> {
        let (channels, height, width) = style.shape();
        if (channels, height, width) != (3, STYLE_SIZE, STYLE_SIZE) {
            return Err(Error::StyleInput {
                width,
                height,
                channels,
                expected: STYLE_SIZE,
            });
        }
        let mut x = self.stem.forward(style);
        for block in &self.blocks {
            let hidden = match &block.expand {
                Some(expand) => expand.forward(&x),
                None => x.clone(),
            };
            let mut y = block.project.forward(&block.depthwise.forward(&hidden));
            if block.residual {
                y.add_assign(&x);
            }
            x = y;
        }
        let pooled = global_average_pool(&self.head.forward(&x));
        let features = Tensor::from_vec(pooled.len(), 1, 1, pooled);
        Ok(StyleVector(self.bottleneck.forward(&features).into_vec()))
    }
}

/// A conditional instance normalisation: its gamma and beta are 1x1 projections of S.
struct ConditionalNorm {
    gamma: Conv2d,
    beta: Conv2d,
}

impl ConditionalNorm {
    fn load(file: &WeightsFile<'_>, scope: &str, channels: usize) -> Result<Self> {
        let projection = |name: &str| {
            conv(
                file,
                &format!("style_params/{scope}/StyleNorm/{name}"),
                (channels, STYLE_DIMS, 1),
                1,
                Padding::NONE,
            )
        };
        // `Conv_1` multiplies the normalised values (the graph's Mul with Rsqrt), `Conv` is
        // added (the Sub it feeds).
        Ok(Self {
            gamma: projection("Conv_1")?,
            beta: projection("Conv")?,
        })
    }

    /// `(gamma, beta)` for a style.
    fn parameters(&self, style: &Tensor) -> (Vec<f32>, Vec<f32>) {
        (
            self.gamma.forward(style).into_vec(),
            self.beta.forward(style).into_vec(),
        )
    }
}

/// A convolution followed by a conditional instance normalisation.
struct NormConv {
    conv: Conv2d,
    norm: ConditionalNorm,
}

impl NormConv {
    fn load(
        file: &WeightsFile<'_>,
        scope: &str,
        shape: (usize, usize, usize),
        upsample: usize,
    ) -> Result<Self> {
        let padding = Padding::Reflect(shape.2 / 2);
        Ok(Self {
            conv: conv(file, scope, shape, 1, padding)?.upsampling_input(upsample),
            norm: ConditionalNorm::load(file, scope, shape.0)?,
        })
    }

    /// The layer on `x`, normalised with `norms`' next statistics when it has them, else
    /// with the output's own (recorded in `norms` when it records).
    fn forward(
        &self,
        x: &Tensor,
        style: &Tensor,
        epsilon: f32,
        activation: Activation,
        residual: Option<&Tensor>,
        pass: &mut Pass<'_>,
    ) -> Tensor {
        let (mut y, own) = self.conv.forward_with_moments(x);
        pass.laps.lap("convolution");
        let moments = pass.norms.next(own);
        let (gamma, beta) = self.norm.parameters(style);
        instance_norm(
            &mut y, &moments, &gamma, &beta, epsilon, activation, residual,
        );
        pass.laps.lap("normalisation");
        y
    }
}

/// One run of T: the statistics its normalisations use, and where its time goes.
struct Pass<'a> {
    norms: Norms<'a>,
    laps: Laps,
}

/// With `RESTYLE_FAST_PROFILE` set, T's time per layer on standard error (the layer's
/// shape, its convolution and its normalisation): what to speed up.
struct Laps {
    on: bool,
    last: std::time::Instant,
    layer: String,
}

impl Laps {
    fn new() -> Self {
        Self {
            on: std::env::var_os("RESTYLE_FAST_PROFILE").is_some(),
            last: std::time::Instant::now(),
            layer: String::new(),
        }
    }

    /// Names the layer the next laps belong to.
    fn layer(&mut self, name: &str, x: &Tensor) {
        if self.on {
            let (c, h, w) = x.shape();
            self.layer = format!("{name} (input {c}x{h}x{w})");
            self.last = std::time::Instant::now();
        }
    }

    fn lap(&mut self, what: &str) {
        if self.on {
            let now = std::time::Instant::now();
            eprintln!(
                "fast profile: {:<40} {what:<14} {:8.2} ms",
                self.layer,
                (now - self.last).as_secs_f64() * 1e3
            );
            self.last = now;
        }
    }
}

/// The statistics every conditional instance normalisation of T saw when it painted a
/// picture whole, in the order T applies them: painting the picture in tiles with these
/// gives each tile the whole picture's normalisation (see [`crate::tiles`]).
#[derive(Clone, Debug, PartialEq)]
pub struct NormStatistics(Vec<Vec<Moments>>);

/// The statistics of T's normalisations carried from frame to frame of a clip: each frame is
/// normalised with a mixture of its own statistics and those the frames before it used, so
/// that its brightness and contrast do not jump when the picture changes a little (see
/// [`Transformer::stylize_steady`]). Empty before the first frame.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SteadyStatistics {
    /// The frames' height and width.
    shape: (usize, usize),
    running: Vec<Vec<Moments>>,
}

/// Which statistics T's normalisations use.
enum Norms<'a> {
    /// Each its output's own.
    Own,
    /// Each its output's own, and recorded.
    Record(Vec<Vec<Moments>>),
    /// Given ones, in order.
    Given(std::slice::Iter<'a, Vec<Moments>>),
    /// A mixture of the output's own (`1 - keep`) and the running ones (`keep`), which
    /// become the mixture; the output's own where there are none yet.
    Steady {
        running: &'a mut Vec<Vec<Moments>>,
        next: usize,
        keep: f64,
    },
}

impl Norms<'_> {
    fn next(&mut self, own: Vec<Moments>) -> Vec<Moments> {
        match self {
            Norms::Own => own,
            Norms::Record(seen) => {
                seen.push(own.clone());
                own
            }
            Norms::Given(given) => given.next().expect("one set per normalisation").clone(),
            Norms::Steady {
                running,
                next,
                keep,
            } => {
                let i = *next;
                *next += 1;
                if i == running.len() {
                    running.push(own);
                } else if *keep <= 0.0 {
                    running[i] = own;
                } else {
                    running[i] = running[i]
                        .iter()
                        .zip(&own)
                        .map(|(r, o)| r.weighted(*keep).merge(o.weighted(1.0 - *keep)))
                        .collect();
                }
                running[i].clone()
            }
        }
    }
}

/// T: the style transfer network.
pub struct Transformer {
    contract: [Conv2d; 3],
    residual: Vec<[NormConv; 2]>,
    expand: [NormConv; 3],
    epsilon: f32,
}

impl Transformer {
    pub fn load(file: &WeightsFile<'_>) -> Result<Self> {
        let contract = |i: usize, shape: (usize, usize, usize), stride: usize| {
            Ok::<_, Error>(
                conv(
                    file,
                    &format!("transformer/contract/conv{i}"),
                    shape,
                    stride,
                    Padding::Reflect(shape.2 / 2),
                )?
                .with_activation(Activation::Relu),
            )
        };
        let residual = (1..=5)
            .map(|r| {
                let scope = |j: usize| format!("transformer/residual/residual{r}/conv{j}");
                Ok([
                    NormConv::load(file, &scope(1), (32, 32, 3), 1)?,
                    NormConv::load(file, &scope(2), (32, 32, 3), 1)?,
                ])
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            contract: [
                contract(1, (8, 3, 9), 1)?,
                contract(2, (16, 8, 3), 2)?,
                contract(3, (32, 16, 3), 2)?,
            ],
            residual,
            expand: [
                NormConv::load(file, "transformer/expand/conv1/conv", (16, 32, 3), 2)?,
                NormConv::load(file, "transformer/expand/conv2/conv", (8, 16, 3), 2)?,
                NormConv::load(file, "transformer/expand/conv3/conv", (3, 8, 9), 1)?,
            ],
            epsilon: file.scalar("transformer/instance_norm_epsilon")?,
        })
    }

    /// The stylized image, the size of `content` (`3 x H x W`, values in 0..1).
    pub fn stylize(&self, content: &Tensor, style: &StyleVector) -> Result<Tensor> {
        self.run(content, style, Norms::Own)
            .map(|(picture, _)| picture)
    }

    /// The statistics T's normalisations see when it paints `content` whole.
    pub fn statistics(&self, content: &Tensor, style: &StyleVector) -> Result<NormStatistics> {
        match self.run(content, style, Norms::Record(Vec::new()))?.1 {
            Norms::Record(seen) => Ok(NormStatistics(seen)),
            _ => unreachable!("recording"),
        }
    }

    /// `content` stylized with every normalisation using `statistics` (another picture's,
    /// typically the whole of which `content` is a tile) instead of its own.
    pub fn stylize_with(
        &self,
        content: &Tensor,
        style: &StyleVector,
        statistics: &NormStatistics,
    ) -> Result<Tensor> {
        self.run(content, style, Norms::Given(statistics.0.iter()))
            .map(|(picture, _)| picture)
    }

    /// `content`, a frame of a clip, stylized with each normalisation's statistics a mixture:
    /// `keep` of those `steady` carries from the frames before, `1 - keep` of the frame's
    /// own; `steady` then carries the mixture to the next frame. With `keep` 0 this is
    /// [`Transformer::stylize`]. A frame of another size than the previous starts afresh.
    pub fn stylize_steady(
        &self,
        content: &Tensor,
        style: &StyleVector,
        steady: &mut SteadyStatistics,
        keep: f32,
    ) -> Result<Tensor> {
        let (_, h, w) = content.shape();
        if steady.shape != (h, w) {
            *steady = SteadyStatistics {
                shape: (h, w),
                running: Vec::new(),
            };
        }
        let norms = Norms::Steady {
            running: &mut steady.running,
            next: 0,
            keep: keep.clamp(0.0, 1.0) as f64,
        };
        self.run(content, style, norms).map(|(picture, _)| picture)
    }

    /// The picture, and the statistics as `norms` left them.
    fn run<'a>(
        &self,
        content: &Tensor,
        style: &StyleVector,
        norms: Norms<'a>,
    ) -> Result<(Tensor, Norms<'a>)> {
        let (channels, height, width) = content.shape();
        if channels != 3 {
            return Err(Error::Channels(channels));
        }
        if height.min(width) < MIN_CONTENT_SIZE {
            return Err(Error::TooSmall {
                width,
                height,
                min: MIN_CONTENT_SIZE,
            });
        }
        let s = style.as_tensor();
        let eps = self.epsilon;
        let mut pass = Pass {
            norms,
            laps: Laps::new(),
        };
        let p = &mut pass;
        let mut x = content.clone();
        for (i, conv) in self.contract.iter().enumerate() {
            p.laps.layer(&format!("contract {}", i + 1), &x);
            x = conv.forward(&x);
            p.laps.lap("convolution");
        }
        for (i, [first, second]) in self.residual.iter().enumerate() {
            p.laps.layer(&format!("residual {} a", i + 1), &x);
            let h = first.forward(&x, &s, eps, Activation::Relu, None, p);
            p.laps.layer(&format!("residual {} b", i + 1), &h);
            x = second.forward(&h, &s, eps, Activation::Identity, Some(&x), p);
        }
        let [up1, up2, last] = &self.expand;
        p.laps.layer("expand 1", &x);
        x = up1.forward(&x, &s, eps, Activation::Relu, None, p);
        p.laps.layer("expand 2", &x);
        x = up2.forward(&x, &s, eps, Activation::Relu, None, p);
        p.laps.layer("expand 3", &x);
        x = last.forward(&x, &s, eps, Activation::Sigmoid, None, p);
        Ok((top_left(x, height, width), pass.norms))
    }
}

/// The top-left `height x width` of `x`: a side that is not a multiple of 4 comes back a
/// little larger from the two stride-2 contractions and the two 2x expansions.
fn top_left(x: Tensor, height: usize, width: usize) -> Tensor {
    if (x.height(), x.width()) == (height, width) {
        return x;
    }
    crop(
        &x,
        Tile {
            x: 0,
            y: 0,
            width,
            height,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two frames: a smooth picture, and the same brighter.
    fn frames() -> (Tensor, Tensor) {
        let (h, w) = (24, 32);
        let mut a = Tensor::zeros(3, h, w);
        for c in 0..3 {
            for (i, v) in a.plane_mut(c).iter_mut().enumerate() {
                let (y, x) = ((i / w) as f32, (i % w) as f32);
                *v = 0.4 + 0.2 * (x * 0.3 + c as f32).sin() * (y * 0.25).cos();
            }
        }
        let mut b = a.clone();
        b.as_mut_slice().iter_mut().for_each(|v| *v += 0.2);
        (a, b)
    }

    #[test]
    fn steady_statistics_mix_the_frames_before_into_each_frame() {
        let model = crate::FastStyle::embedded().unwrap();
        let style = StyleVector(vec![0.1; STYLE_DIMS]);
        let (a, b) = frames();
        let t = &model.transformer;
        // keep 0: every frame its own statistics, as a still.
        let mut steady = SteadyStatistics::default();
        t.stylize_steady(&a, &style, &mut steady, 0.0).unwrap();
        assert_eq!(
            t.stylize_steady(&b, &style, &mut steady, 0.0).unwrap(),
            t.stylize(&b, &style).unwrap()
        );
        // keep 1: the first frame's statistics for ever after.
        let mut steady = SteadyStatistics::default();
        assert_eq!(
            t.stylize_steady(&a, &style, &mut steady, 1.0).unwrap(),
            t.stylize(&a, &style).unwrap()
        );
        let held = t.stylize_steady(&b, &style, &mut steady, 1.0).unwrap();
        let given = t.statistics(&a, &style).unwrap();
        assert_eq!(held, t.stylize_with(&b, &style, &given).unwrap());
        // A frame of another size starts afresh.
        let small = Tensor::zeros(3, 16, 16);
        t.stylize_steady(&small, &style, &mut steady, 1.0).unwrap();
        assert_eq!(steady.shape, (16, 16));
    }
}
