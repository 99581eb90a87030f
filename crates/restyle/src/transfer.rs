//! The style transfer itself: the run, scale by scale and tile by tile.
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
use restyle_engine::{allocator, Tensor};
use restyle_image::color::{luminance, match_colors, matched_luminance, recombine, ColorMode};
use restyle_image::tiles::{crop, Blender, Ramp, Tile};
use restyle_image::{Image, Mask, StyleImage};
use restyle_vgg::{Layer, Vgg19};

use crate::error::{SettingsError, SizedImage};
use crate::losses::{GuidedStyleLoss, StyleLoss};
use crate::mask::MaskAtLayer;
use crate::objective::StyleObjective;
use crate::optimize::{optimize, RunClock, StageEnd, StagePlan};
use crate::progress::{Flow, Losses, Observer};
use crate::settings::{Init, Settings};
use crate::targets::{borders, content_targets, region_targets, style_targets, Region};
use crate::Result;

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

/// The style targets (Gram matrices) a run measured, kept for the next run
/// with the same paintings and settings: a clip's frames, painted one after
/// another, need them measured only once.
///
/// Only targets that do not depend on the content are kept: none with
/// regions, or with colours taken from the photo (`Luminance`, `Histogram`).
#[derive(Clone, Debug, Default)]
pub struct StyleTargetCache {
    kept: Vec<ScaleStyleTargets>,
}

/// A scale's long edge, and each style layer's weight and loss there.
type ScaleStyleTargets = (usize, Vec<(Layer, f64, StyleLoss)>);

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
    stylize_cached(
        net,
        content,
        styles,
        settings,
        &mut StyleTargetCache::default(),
        observer,
    )
}

/// [`stylize`], with the style targets taken from `cache` where it has them
/// and kept there for the next call. The caller keeps `styles` and `settings`
/// the same from call to call (a new cache for others).
pub fn stylize_cached(
    net: &Vgg19,
    content: &Image,
    styles: &[StyleImage],
    settings: &Settings,
    cache: &mut StyleTargetCache,
    observer: &mut dyn Observer,
) -> Result<Outcome> {
    // Each step frees and allocates the same large buffers: keep them in
    // the process during the run, and give them back however it ends.
    let _kept = allocator::keep_freed_memory_during_run();
    settings.validate()?;
    let weights: Vec<f32> = styles.iter().map(|s| s.weight).collect();
    settings.validate_style_weights(&weights)?;
    settings.validate_masks(styles)?;
    let guided = settings.has_regions(styles);
    let deepest = settings.deepest_layer().expect("validated: some layer");
    if deepest > net.deepest_layer() {
        return Err(SettingsError::DeeperThanNetwork {
            layer: deepest,
            deepest: net.deepest_layer(),
        }
        .into());
    }
    let plan = settings.plan(content.width(), content.height());
    let first = plan[0];
    settings.check_size(SizedImage::Output, first.width, first.height)?;
    let styles: Vec<StyleImage> = match settings.color {
        // The style's colours become the photo's before anything else.
        ColorMode::Histogram => styles
            .iter()
            .map(|s| StyleImage {
                image: match_colors(&s.image, content),
                ..s.clone()
            })
            .collect(),
        _ => styles.to_vec(),
    };

    // One stage per whole-image scale, one per tile of a tiled scale.
    let tilings: Vec<Option<Vec<Tile>>> = plan
        .iter()
        .map(|s| settings.tiling.and_then(|t| t.tiles(s.width, s.height)))
        .collect();
    if settings.seamless && tilings.iter().any(Option::is_some) {
        // A tile's edges are not the picture's: it cannot wrap around them.
        return Err(SettingsError::SeamlessTiles.into());
    }
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
        curvature: None,
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
                        ..s.clone()
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
        let cacheable = !guided && settings.color == ColorMode::None;
        let cached = cache
            .kept
            .iter()
            .find(|(edge, _)| cacheable && *edge == size)
            .map(|(_, targets)| targets.clone());
        let targets = if guided {
            region_targets(net, &scale_styles, settings, size, tile_size, observer)?
                .map(|r| (Vec::new(), r))
        } else if let Some(style) = cached {
            Some((style, Vec::new()))
        } else {
            let style = style_targets(net, &scale_styles, settings, size, tile_size, observer)?;
            if let (true, Some(style)) = (cacheable, &style) {
                cache.kept.push((size, style.clone()));
            }
            style.map(|s| (s, Vec::new()))
        };
        // Asked once more before the content targets: stopped here, the run
        // ends with the image this scale would have started from.
        let (style, regions) = match targets {
            Some(targets) if observer.on_targets() == Flow::Continue => targets,
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
            regions: regions
                .into_iter()
                .map(|r| Region {
                    mask: r.mask.resized(scale.width, scale.height),
                    ..r
                })
                .collect(),
            keep: settings
                .keep
                .as_ref()
                .map(|k| k.resized(scale.width, scale.height)),
            iterations: scale.iterations,
        };
        let result = match tiles {
            None => scale_run.whole(start, &mut run, &mut clock, observer)?,
            Some(tiles) => scale_run.tiled(start, tiles, &mut run, &mut clock, observer)?,
        };
        pixels = Some(match &scale_run.keep {
            Some(keep) => kept(result, target.tensor(), keep),
            None => result,
        });
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
    /// The latest stage's learnt inverse-Hessian scale and its pixel count.
    curvature: Option<(f64, usize)>,
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
    /// The regions' targets, their masks at this scale's size.
    regions: Vec<Region>,
    /// The part kept as the photo, at this scale's size.
    keep: Option<Mask>,
    iterations: usize,
}

impl ScaleRun<'_> {
    /// The objective for `target`: the whole picture, or its `tile`.
    fn objective(&self, target: &Image, tile: Option<Tile>) -> StyleObjective<'_> {
        let objective = StyleObjective::new(
            self.net,
            content_targets(self.net, target, self.settings),
            self.style.clone(),
            self.settings.tv_weight,
        )
        .with_regions(self.guided_losses(tile))
        .with_borders(borders(self.settings));
        match &self.settings.temporal {
            Some(t) => {
                // At this scale's size, and the tile's part of it.
                let (w, h) = (self.photo.width(), self.photo.height());
                let carried = t.carried.resized(w, h).into_tensor();
                let reliability = t.reliability.resized(w, h);
                let (carried, reliability) = match tile {
                    Some(tile) => (crop(&carried, tile), reliability.cropped(tile)),
                    None => (carried, reliability),
                };
                objective.with_temporal(carried, reliability.as_slice().to_vec(), t.weight)
            }
            None => objective,
        }
    }

    /// The regions' style losses for the picture or its `tile`. Each term is
    /// weighted by the region's share of the layer (`sum w^2 / M`): its
    /// guided Gram matrix is a mean over the region, so each of its
    /// positions is pulled as hard as a position of an unmasked style, and
    /// regions that cover the picture add up to one style's weight.
    fn guided_losses(&self, tile: Option<Tile>) -> Vec<(Layer, f64, GuidedStyleLoss)> {
        let mut losses = Vec::new();
        for region in &self.regions {
            let mask = match tile {
                Some(tile) => region.mask.cropped(tile),
                None => region.mask.clone(),
            };
            for (layer, weight, gram) in &region.targets {
                // "Inside" masks: see `MaskAtLayer::inside_at_layer` for why.
                let at_layer = mask.inside_at_layer(*layer);
                if let Some((loss, share)) = GuidedStyleLoss::new(gram.clone(), &at_layer) {
                    losses.push((*layer, weight * region.strength * share, loss));
                }
            }
        }
        losses
    }

    /// The step plan of a stage of `pixels` pixels. The losses are means
    /// over positions, so their curvature falls as the pixel count grows:
    /// the previous stage's inverse-Hessian scale, times the ratio of pixel
    /// counts, starts L-BFGS close to its natural step.
    fn stage_plan(&self, run: &RunState, pixels: usize) -> StagePlan {
        StagePlan {
            steps: self.iterations,
            stop: self.settings.stop,
            initial_scale: run
                .curvature
                .map(|(scale, before)| scale * pixels as f64 / before as f64),
        }
    }

    /// Optimises the whole image from `start`.
    fn whole(
        &self,
        mut pixels: Tensor,
        run: &mut RunState,
        clock: &mut RunClock,
        observer: &mut dyn Observer,
    ) -> Result<Tensor> {
        let mut objective = self.objective(self.target, None);
        let present = |t: &Tensor| present(t, self.photo, self.settings.color);
        let plan = self.stage_plan(run, pixels.plane_len());
        let end = optimize(
            &mut objective,
            &mut pixels,
            &self.settings.optimizer_settings(),
            plan,
            run.stage,
            clock,
            observer,
            &present,
        )?;
        run.finish_stage(&end, objective.latest(), pixels.plane_len());
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
        let mut blender = Blender::new(3, w, h, tiling.overlap, Ramp::RaisedCosine);
        for &tile in tiles {
            let mut pixels = crop(&blender.finish(&start), tile);
            let mut objective = self.objective(
                &Image::from_tensor(crop(self.target.tensor(), tile)),
                Some(tile),
            );
            let present = |t: &Tensor| {
                let mut preview = blender.clone();
                preview.add(tile, t);
                present(&preview.finish(&start), self.photo, self.settings.color)
            };
            let plan = self.stage_plan(run, pixels.plane_len());
            let end = optimize(
                &mut objective,
                &mut pixels,
                &self.settings.optimizer_settings(),
                plan,
                run.stage,
                clock,
                observer,
                &present,
            )?;
            blender.add(tile, &pixels);
            run.finish_stage(&end, objective.latest(), pixels.plane_len());
            if run.stopped {
                break;
            }
        }
        Ok(blender.finish(&start))
    }
}

impl RunState {
    fn finish_stage(&mut self, end: &StageEnd, losses: Losses, pixels: usize) {
        self.stage += 1;
        self.steps += end.steps;
        self.losses = losses;
        self.stopped = end.stopped;
        if let Some(scale) = end.curvature_scale {
            self.curvature = Some((scale, pixels));
        }
    }
}

/// `pixels` with the photo (`target`) put back where `keep` says, blended
/// where it is grey.
fn kept(mut pixels: Tensor, target: &Tensor, keep: &Mask) -> Tensor {
    for c in 0..pixels.channels() {
        let photo = target.plane(c);
        for ((p, &t), &k) in pixels
            .plane_mut(c)
            .iter_mut()
            .zip(photo)
            .zip(keep.as_slice())
        {
            *p = k * t + (1.0 - k) * *p;
        }
    }
    pixels
}

/// The picture the user sees for optimised pixels.
fn present(pixels: &Tensor, photo: &Image, color: ColorMode) -> Image {
    match color {
        ColorMode::Luminance => recombine(pixels, photo),
        _ => Image::from_tensor(pixels.clone()),
    }
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
