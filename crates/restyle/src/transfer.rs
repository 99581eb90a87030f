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
use crate::losses::StyleLoss;
use crate::objective::StyleObjective;
use crate::optimize::{optimize, OptimizerSettings, RunClock};
use crate::progress::{Flow, Losses, Observer};
use crate::scales::{Scale, ScaleSchedule};
use crate::targets::{content_targets, style_targets};
use crate::tiles::{crop, plan_tiles, Blender, Tile};
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
    /// Optimise sizes larger than a tile in overlapping tiles (for outputs
    /// larger than memory allows); `None`: whole images only.
    pub tiling: Option<Tiling>,
}

/// How large outputs are cut into tiles.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tiling {
    /// Longest side of a tile, pixels.
    pub tile: usize,
    /// Pixels neighbouring tiles share; they are blended across it.
    pub overlap: usize,
}

impl Tiling {
    /// The tiles of a `width x height` scale, or `None` if it fits in one.
    pub fn tiles(&self, width: usize, height: usize) -> Option<Vec<Tile>> {
        (width.max(height) > self.tile).then(|| plan_tiles(width, height, self.tile, self.overlap))
    }
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
            style_layers: (1..=5)
                .map(|b| (Layer::first_relu_of_block(b), 1.0))
                .collect(),
            init: Init::Content,
            optimizer: OptimizerKind::Lbfgs,
            learning_rate: None,
            lbfgs_history: crate::optimize::DEFAULT_LBFGS_HISTORY,
            seed: 0,
            color: ColorMode::Style,
            scales: ScaleSchedule::default(),
            tiling: None,
        }
    }
}

impl Settings {
    pub fn optimizer_settings(&self) -> OptimizerSettings {
        OptimizerSettings {
            kind: self.optimizer,
            learning_rate: self.learning_rate,
            lbfgs_history: self.lbfgs_history,
        }
    }

    /// The deepest layer any loss reads: the network need not go further.
    pub fn deepest_layer(&self) -> Option<Layer> {
        self.content_layers
            .iter()
            .chain(&self.style_layers)
            .map(|l| l.0)
            .max()
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

    /// Steps over all scales and tiles, for a `width x height` content image.
    pub fn total_steps(&self, width: usize, height: usize) -> usize {
        self.plan(width, height)
            .iter()
            .map(|s| {
                s.iterations
                    * self
                        .tiling
                        .and_then(|t| t.tiles(s.width, s.height))
                        .map_or(1, |t| t.len())
            })
            .sum()
    }

    /// Checks every value, before any work is done.
    pub fn validate(&self, styles: &[StyleImage]) -> Result<()> {
        let bad = |m: String| Err(Error::Settings(m));
        let finite_nonneg = |name: &str, v: f32| -> Result<()> {
            if v.is_finite() && v >= 0.0 {
                Ok(())
            } else {
                Err(Error::Settings(format!(
                    "{name} must be a number >= 0, not {v}"
                )))
            }
        };
        if self.size == 0 {
            return bad("the output size must be at least 1 pixel".into());
        }
        finite_nonneg("the content weight", self.content_weight)?;
        finite_nonneg("the style weight", self.style_weight)?;
        finite_nonneg("the total-variation weight", self.tv_weight)?;
        if !(self.style_scale.is_finite() && self.style_scale > 0.0) {
            return bad(format!(
                "the style scale must be a number > 0, not {}",
                self.style_scale
            ));
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
        if let Some(t) = self.tiling {
            if t.tile < 64 || t.overlap >= t.tile / 2 {
                return bad(format!(
                    "tiles must be at least 64 pixels and overlap by less than half their size (tile {}, overlap {})",
                    t.tile, t.overlap
                ));
            }
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
            .map(|s| StyleImage {
                image: match_colours(&s.image, content),
                weight: s.weight,
            })
            .collect(),
        _ => styles.to_vec(),
    };

    // One stage per whole-image scale, one per tile of a tiled scale.
    let tilings: Vec<Option<Vec<Tile>>> = plan
        .iter()
        .map(|s| settings.tiling.and_then(|t| t.tiles(s.width, s.height)))
        .collect();
    let stages: Vec<(usize, usize)> = plan
        .iter()
        .zip(&tilings)
        .flat_map(|(scale, tiles)| match tiles {
            None => vec![(scale.iterations, scale.pixels())],
            Some(tiles) => tiles
                .iter()
                .map(|t| (scale.iterations, t.width * t.height))
                .collect(),
        })
        .collect();
    let mut clock = RunClock::new(&stages);
    let mut run = RunState {
        stage: 0,
        steps: 0,
        losses: Losses::default(),
        stopped: false,
    };
    let mut pixels: Option<Tensor> = None;
    let mut last_photo = content.clone();
    for (scale, tiles) in plan.iter().zip(&tilings) {
        let photo = content.resized(scale.width, scale.height);
        let (target, scale_styles) = match settings.color {
            ColorMode::Luminance => {
                let styles = styles
                    .iter()
                    .map(|s| StyleImage {
                        image: matched_luminance(&s.image, &photo),
                        weight: s.weight,
                    })
                    .collect();
                (luminance(&photo), styles)
            }
            _ => (photo.clone(), styles.clone()),
        };
        let start = match pixels.take() {
            None => initial_pixels(&settings.init, &target, settings.seed, settings.color),
            Some(previous) => Image::from_tensor(previous)
                .resized(scale.width, scale.height)
                .into_tensor(),
        };
        let size = scale.width.max(scale.height);
        let tile_size = settings.tiling.map(|t| t.tile);
        let style = style_targets(net, &scale_styles, settings, size, tile_size, observer)?;
        // Asked once more before the content targets: stopped here, the run
        // ends with the image this scale would have started from.
        let style = match style {
            Some(style) if observer.on_targets() == Flow::Continue => style,
            _ => {
                pixels = Some(start);
                last_photo = photo;
                run.stopped = true;
                break;
            }
        };
        let scale_run = ScaleRun {
            net,
            settings,
            photo: &photo,
            target: &target,
            style,
            iterations: scale.iterations,
        };
        let result = match tiles {
            None => scale_run.whole(start, &mut run, &mut clock, observer)?,
            Some(tiles) => scale_run.tiled(start, tiles, &mut run, &mut clock, observer)?,
        };
        pixels = Some(result);
        last_photo = photo;
        if run.stopped {
            break;
        }
    }
    let pixels = pixels.expect("at least one scale ran");
    let mut image = present(&pixels, &last_photo, settings.color);
    let last = plan[plan.len() - 1];
    if (image.width(), image.height()) != (last.width, last.height) {
        image = image.resized(last.width, last.height);
    }
    Ok(Outcome {
        image,
        steps: run.steps,
        losses: run.losses,
        stopped: run.stopped,
    })
}

/// Counters carried across the stages of a run.
struct RunState {
    stage: usize,
    steps: usize,
    losses: Losses,
    stopped: bool,
}

/// One scale of a run: its targets, ready to optimise whole or in tiles.
struct ScaleRun<'a> {
    net: &'a Vgg19,
    settings: &'a Settings,
    /// The photo at this scale, for presenting results in its colours.
    photo: &'a Image,
    /// What the content loss aims at (the photo, grey in luminance mode).
    target: &'a Image,
    style: Vec<(Layer, f64, StyleLoss)>,
    iterations: usize,
}

impl ScaleRun<'_> {
    fn objective(&self, target: &Image) -> StyleObjective<'_> {
        StyleObjective::new(
            self.net,
            content_targets(self.net, target, self.settings),
            self.style.clone(),
            self.settings.tv_weight,
        )
    }

    /// Optimises the whole image from `start`.
    fn whole(
        &self,
        mut pixels: Tensor,
        run: &mut RunState,
        clock: &mut RunClock,
        observer: &mut dyn Observer,
    ) -> Result<Tensor> {
        let mut objective = self.objective(self.target);
        let present = |t: &Tensor| present(t, self.photo, self.settings.color);
        let end = optimize(
            &mut objective,
            &mut pixels,
            &self.settings.optimizer_settings(),
            self.iterations,
            run.stage,
            clock,
            observer,
            &present,
        )?;
        run.finish_stage(end.steps, objective.latest(), end.stopped);
        Ok(pixels)
    }

    /// Optimises `tiles` one after another. Each starts from the picture as
    /// it stands (the coarser scale's result, with the tiles done so far
    /// blended in), matches the photo's content within it and the style
    /// images' Gram matrices of the whole picture, and is blended into the
    /// result across its overlaps.
    fn tiled(
        &self,
        start: Tensor,
        tiles: &[Tile],
        run: &mut RunState,
        clock: &mut RunClock,
        observer: &mut dyn Observer,
    ) -> Result<Tensor> {
        let tiling = self.settings.tiling.expect("tiled scales have a tiling");
        let (w, h) = (start.width(), start.height());
        let mut blender = Blender::new(3, w, h, tiling.overlap);
        for &tile in tiles {
            let mut pixels = crop(&blender.finish(&start), tile);
            let mut objective =
                self.objective(&Image::from_tensor(crop(self.target.tensor(), tile)));
            let present = |t: &Tensor| {
                let mut preview = blender.clone();
                preview.add(tile, t);
                present(&preview.finish(&start), self.photo, self.settings.color)
            };
            let end = optimize(
                &mut objective,
                &mut pixels,
                &self.settings.optimizer_settings(),
                self.iterations,
                run.stage,
                clock,
                observer,
                &present,
            )?;
            blender.add(tile, &pixels);
            run.finish_stage(end.steps, objective.latest(), end.stopped);
            if run.stopped {
                break;
            }
        }
        Ok(blender.finish(&start))
    }
}

impl RunState {
    fn finish_stage(&mut self, steps: usize, losses: Losses, stopped: bool) {
        self.stage += 1;
        self.steps += steps;
        self.losses = losses;
        self.stopped = stopped;
    }
}

/// The picture the user sees for optimised pixels.
fn present(pixels: &Tensor, photo: &Image, color: ColorMode) -> Image {
    match color {
        ColorMode::Luminance => recombine(pixels, photo),
        _ => Image::from_tensor(pixels.clone()),
    }
}

pub(crate) fn check_size(
    what: &str,
    width: usize,
    height: usize,
    settings: &Settings,
) -> Result<()> {
    let min = settings.min_side();
    if width.min(height) < min {
        return Err(Error::Settings(format!(
            "{what} would be {width}x{height} pixels; the layers used need at least {min} on each side \
             (raise --size, or --style-scale for style images)"
        )));
    }
    Ok(())
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
