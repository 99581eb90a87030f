//! The style transfer itself: settings, targets, and the run.
//!
//! 1. Plan the sizes: one for ordinary outputs, several (coarse to fine)
//!    for large ones.
//! 2. At each size, run the content image and the style images (at
//!    `style_scale` times the size) through VGG-19 once: the content
//!    image's activations at the content layers and the style images' Gram
//!    matrices at the style layers (blended over several styles) become
//!    fixed targets.
//! 3. Start from the content image (or noise, or a given image; at later
//!    sizes, the previous size's result enlarged) and let the optimiser move
//!    the pixels to lower the weighted sum of content, style and
//!    total-variation losses, reporting after every step.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use restyle_engine::Tensor;
use restyle_vgg::{Layer, Vgg19};

use crate::colour::{luminance, match_colours, matched_luminance, recombine, ColorMode};
use crate::image::fit_long_edge;
use crate::losses::{gram, ContentLoss, Gram, StyleLoss};
use crate::scales::{Scale, ScaleSchedule};
use crate::objective::StyleObjective;
use crate::optimize::{optimize, OptimizerSettings, RunClock};
use crate::progress::{Losses, Observer};
use crate::{Error, Image, Result};

/// Where the optimisation starts.
#[derive(Clone, Debug, PartialEq)]
pub enum Init {
    /// The content image (the default: converges fastest, keeps the composition).
    Content,
    /// Grey with seeded Gaussian noise, as in Gatys et al.
    Noise,
    /// A given image, resized to the output size.
    Image(Image),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OptimizerKind {
    Lbfgs,
    Adam,
}

/// A style image and its share in a blend of several.
#[derive(Clone, Debug)]
pub struct StyleImage {
    pub image: Image,
    pub weight: f32,
}

/// Everything a run can be told. `Settings::default()` gives good results.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Long edge of the output, pixels.
    pub size: usize,
    /// Optimisation steps.
    pub iterations: usize,
    pub content_weight: f32,
    pub style_weight: f32,
    /// Total-variation (smoothness) weight.
    pub tv_weight: f32,
    /// Style images are resized to `style_scale * size` on their long edge:
    /// larger values give larger brush strokes.
    pub style_scale: f32,
    /// Content layers with relative weights.
    pub content_layers: Vec<(Layer, f32)>,
    /// Style layers with relative weights.
    pub style_layers: Vec<(Layer, f32)>,
    pub init: Init,
    pub optimizer: OptimizerKind,
    /// Adam's step size (pixel units, 0..1), or L-BFGS's first-step scale.
    /// `None` picks the optimiser's default.
    pub learning_rate: Option<f32>,
    /// Curvature pairs L-BFGS keeps (each costs two image-sized vectors).
    pub lbfgs_history: usize,
    /// Seed for noise initialisation; runs with equal settings are identical.
    pub seed: u64,
    /// Whose colours the result has.
    pub color: ColorMode,
    /// Coarse-to-fine sizes (automatic for large outputs).
    pub scales: ScaleSchedule,
}

impl Default for Settings {
    fn default() -> Self {
        let layer = |n: &str| n.parse::<Layer>().expect("known layer");
        Self {
            size: 512,
            iterations: 300,
            content_weight: 1.0,
            style_weight: 10.0,
            tv_weight: 10.0,
            style_scale: 1.0,
            content_layers: vec![(layer("conv4_2"), 1.0)],
            style_layers: (1..=5).map(|b| (Layer::first_relu_of_block(b), 1.0)).collect(),
            init: Init::Content,
            optimizer: OptimizerKind::Lbfgs,
            learning_rate: None,
            lbfgs_history: 20,
            seed: 0,
            color: ColorMode::Style,
            scales: ScaleSchedule::default(),
        }
    }
}

impl Settings {
    pub fn optimizer_settings(&self) -> OptimizerSettings {
        OptimizerSettings { kind: self.optimizer, learning_rate: self.learning_rate, lbfgs_history: self.lbfgs_history }
    }

    /// The deepest layer any loss reads: the network need not go further.
    pub fn deepest_layer(&self) -> Option<Layer> {
        self.content_layers.iter().chain(&self.style_layers).map(|l| l.0).max()
    }

    /// Smallest side an image may have so that the deepest layer still has
    /// at least one pixel (each pooling halves the size).
    pub fn min_side(&self) -> usize {
        self.deepest_layer().map_or(1, |l| {
            let (h, _) = l.output_size(1 << 10, 1 << 10);
            (1 << 10) / h.max(1)
        })
    }

    /// The sizes this run optimises at, for a `width x height` content image.
    pub fn plan(&self, width: usize, height: usize) -> Vec<Scale> {
        self.scales.plan(width, height, self.size, self.iterations)
    }

    /// Checks every value, before any work is done.
    pub fn validate(&self, styles: &[StyleImage]) -> Result<()> {
        let bad = |m: String| Err(Error::Settings(m));
        let finite_nonneg = |name: &str, v: f32| -> Result<()> {
            if v.is_finite() && v >= 0.0 {
                Ok(())
            } else {
                Err(Error::Settings(format!("{name} must be a number >= 0, not {v}")))
            }
        };
        if self.size == 0 {
            return bad("the output size must be at least 1 pixel".into());
        }
        finite_nonneg("the content weight", self.content_weight)?;
        finite_nonneg("the style weight", self.style_weight)?;
        finite_nonneg("the total-variation weight", self.tv_weight)?;
        if !(self.style_scale.is_finite() && self.style_scale > 0.0) {
            return bad(format!("the style scale must be a number > 0, not {}", self.style_scale));
        }
        for (layer, w) in self.content_layers.iter().chain(&self.style_layers) {
            finite_nonneg(&format!("the weight of layer {layer}"), *w)?;
        }
        if let Some(lr) = self.learning_rate {
            if !(lr.is_finite() && lr > 0.0) {
                return bad(format!("the learning rate must be a number > 0, not {lr}"));
            }
        }
        if self.scales.scales == Some(0) {
            return bad("the number of scales must be at least 1".into());
        }
        if self.scales.start_size == Some(0) {
            return bad("the start size must be at least 1 pixel".into());
        }
        if self.lbfgs_history == 0 {
            return bad("L-BFGS needs a history of at least 1".into());
        }
        if self.content_layers.is_empty() && self.style_layers.is_empty() {
            return bad("no content or style layers: there is nothing to optimise".into());
        }
        if !self.style_layers.is_empty() && self.style_weight > 0.0 {
            if styles.is_empty() {
                return bad("at least one style image is needed".into());
            }
            for s in styles {
                finite_nonneg("a style blend weight", s.weight)?;
            }
            if styles.iter().map(|s| s.weight).sum::<f32>() <= 0.0 {
                return bad("the style blend weights add up to zero".into());
            }
        }
        Ok(())
    }
}

/// What a run produced.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The result, at the output size (if the run was stopped at a coarse
    /// scale, enlarged to it).
    pub image: Image,
    /// Steps taken over all scales (fewer than planned if stopped or converged).
    pub steps: usize,
    pub losses: Losses,
    /// The observer stopped the run.
    pub stopped: bool,
}

/// Paints `content` in the style of `styles`.
///
/// `net` must reach the deepest layer the settings use. Progress goes to
/// `observer` after every step; it may stop the run.
pub fn stylize(
    net: &Vgg19,
    content: &Image,
    styles: &[StyleImage],
    settings: &Settings,
    observer: &mut dyn Observer,
) -> Result<Outcome> {
    settings.validate(styles)?;
    let deepest = settings.deepest_layer().expect("validated: some layer");
    if deepest > net.deepest_layer() {
        return Err(Error::Settings(format!(
            "layer {deepest} is deeper than the network's last layer, {}",
            net.deepest_layer()
        )));
    }
    let plan = settings.plan(content.width(), content.height());
    let first = plan[0];
    check_size("the output", first.width, first.height, settings)?;
    let styles: Vec<StyleImage> = match settings.color {
        // The style's colours become the photo's before anything else.
        ColorMode::Histogram => styles
            .iter()
            .map(|s| StyleImage { image: match_colours(&s.image, content), weight: s.weight })
            .collect(),
        _ => styles.to_vec(),
    };

    let mut clock = RunClock::new(&plan.iter().map(|s| (s.iterations, s.pixels())).collect::<Vec<_>>());
    let mut pixels: Option<Tensor> = None;
    let mut steps = 0;
    let mut losses = Losses::default();
    let mut stopped = false;
    let mut last_content = content.clone();
    for (stage, scale) in plan.iter().enumerate() {
        let photo = content.resized(scale.width, scale.height);
        let (target, stage_styles) = match settings.color {
            ColorMode::Luminance => {
                let grey = luminance(&photo);
                let styles = styles
                    .iter()
                    .map(|s| StyleImage { image: matched_luminance(&s.image, &photo), weight: s.weight })
                    .collect();
                (grey, styles)
            }
            _ => (photo.clone(), styles.clone()),
        };
        let size = scale.width.max(scale.height);
        let mut objective = StyleObjective::new(
            net,
            content_targets(net, &target, settings),
            style_targets(net, &stage_styles, settings, size)?,
            settings.tv_weight,
        );
        let mut x = match pixels.take() {
            None => initial_pixels(&settings.init, &target, settings.seed, settings.color),
            Some(previous) => Image::from_tensor(previous).resized(scale.width, scale.height).into_tensor(),
        };
        let present = |t: &Tensor| present(t, &photo, settings.color);
        let end = optimize(
            &mut objective,
            &mut x,
            &settings.optimizer_settings(),
            scale.iterations,
            stage,
            &mut clock,
            observer,
            &present,
        )?;
        steps += end.steps;
        losses = objective.latest();
        pixels = Some(x);
        last_content = photo;
        if end.stopped {
            stopped = true;
            break;
        }
    }
    let pixels = pixels.expect("at least one scale ran");
    let mut image = present(&pixels, &last_content, settings.color);
    let last = plan[plan.len() - 1];
    if (image.width(), image.height()) != (last.width, last.height) {
        image = image.resized(last.width, last.height);
    }
    Ok(Outcome { image, steps, losses, stopped })
}

/// The picture the user sees for optimised pixels.
fn present(pixels: &Tensor, photo: &Image, color: ColorMode) -> Image {
    match color {
        ColorMode::Luminance => recombine(pixels, photo),
        _ => Image::from_tensor(pixels.clone()),
    }
}

fn check_size(what: &str, width: usize, height: usize, settings: &Settings) -> Result<()> {
    let min = settings.min_side();
    if width.min(height) < min {
        return Err(Error::Settings(format!(
            "{what} would be {width}x{height} pixels; the layers used need at least {min} on each side \
             (raise --size, or --style-scale for style images)"
        )));
    }
    Ok(())
}

/// Relative layer weights, normalised to sum to 1 and multiplied by `global`.
fn normalised(layers: &[(Layer, f32)], global: f32) -> Vec<(Layer, f64)> {
    let sum: f64 = layers.iter().map(|l| l.1 as f64).sum();
    layers
        .iter()
        .map(|&(l, w)| (l, if sum > 0.0 { global as f64 * w as f64 / sum } else { 0.0 }))
        .collect()
}

fn content_targets(net: &Vgg19, content: &Image, settings: &Settings) -> Vec<(Layer, f64, ContentLoss)> {
    let layers = normalised(&settings.content_layers, settings.content_weight);
    let wanted: Vec<Layer> = layers.iter().filter(|l| l.1 > 0.0).map(|l| l.0).collect();
    let features = net.features(content.tensor(), &wanted);
    layers
        .into_iter()
        .filter(|l| l.1 > 0.0)
        .zip(features)
        .map(|((layer, w), f)| (layer, w, ContentLoss::new(f)))
        .collect()
}

/// Style targets for an output whose long edge is `size`.
fn style_targets(
    net: &Vgg19,
    styles: &[StyleImage],
    settings: &Settings,
    size: usize,
) -> Result<Vec<(Layer, f64, StyleLoss)>> {
    let layers: Vec<(Layer, f64)> =
        normalised(&settings.style_layers, settings.style_weight).into_iter().filter(|l| l.1 > 0.0).collect();
    if layers.is_empty() {
        return Ok(Vec::new());
    }
    let wanted: Vec<Layer> = layers.iter().map(|l| l.0).collect();
    let blend_sum: f32 = styles.iter().map(|s| s.weight).sum();
    let style_edge = ((size as f32 * settings.style_scale).round() as usize).max(1);
    // Per layer, each style's Gram matrix with its blend weight.
    let mut grams: Vec<Vec<(Gram, f32)>> = vec![Vec::new(); layers.len()];
    for (i, style) in styles.iter().enumerate().filter(|(_, s)| s.weight > 0.0) {
        let (w, h) = fit_long_edge(style.image.width(), style.image.height(), style_edge);
        check_size(&format!("style image {}", i + 1), w, h, settings)?;
        let resized = style.image.resized(w, h);
        for (slot, f) in grams.iter_mut().zip(net.features(resized.tensor(), &wanted)) {
            slot.push((gram(&f), style.weight / blend_sum));
        }
    }
    Ok(layers
        .into_iter()
        .zip(grams)
        .map(|((layer, w), parts)| (layer, w, StyleLoss::new(Gram::blend(&parts))))
        .collect())
}

/// The starting pixels for `content` (which is already grey in luminance
/// mode, and so is every start).
pub(crate) fn initial_pixels(init: &Init, content: &Image, seed: u64, color: ColorMode) -> Tensor {
    let (w, h) = (content.width(), content.height());
    let start = match init {
        Init::Content => return content.tensor().clone(),
        Init::Image(img) => img.resized(w, h),
        Init::Noise => {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let data = (0..3 * w * h)
                .map(|_| {
                    // Box-Muller: grey 0.5 with standard deviation 0.1.
                    let (u1, u2): (f32, f32) = (rng.random_range(f32::EPSILON..1.0), rng.random());
                    let n = (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos();
                    (0.5 + 0.1 * n).clamp(0.0, 1.0)
                })
                .collect();
            Image::from_tensor(Tensor::from_vec(3, h, w, data))
        }
    };
    match color {
        ColorMode::Luminance => luminance(&start).into_tensor(),
        _ => start.into_tensor(),
    }
}
