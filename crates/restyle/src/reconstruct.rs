//! What each layer of VGG-19 keeps, shown as Gatys et al.'s figure 1 does:
//! starting from noise, an image is optimised to match the content image at
//! one layer only, or the style image's Gram matrices at one layer only (or
//! at the first k blocks together). Content reconstructions keep the
//! photo's layout, fading to rough shapes at deep layers; style
//! reconstructions keep colours and textures, ever larger, and drop where
//! things are.

use restyle_engine::Tensor;
use restyle_image::{fit_long_edge, labelled_grid, ColorMode, GridRow, Image};
use restyle_vgg::{Layer, Vgg19};

use crate::error::SettingsError;
use crate::losses::{gram, ContentLoss, StyleLoss};
use crate::objective::StyleObjective;
use crate::optimize::{optimize, RunClock, StagePlan};
use crate::progress::Observer;
use crate::settings::{Init, OptimizerSettings};
use crate::transfer::initial_pixels;
use crate::Result;

#[derive(Clone, Debug)]
pub struct ReconstructSettings {
    /// Long edge of each reconstruction, pixels.
    pub size: usize,
    /// Optimisation steps for each reconstruction.
    pub iterations: usize,
    /// Blocks to reconstruct from, 1..=5.
    pub blocks: Vec<usize>,
    /// Style from blocks 1..=k together (as in the paper's figure) rather
    /// than block k alone.
    pub cumulative: bool,
    pub optimizer: OptimizerSettings,
    pub seed: u64,
}

/// One image reconstructed from some layers.
#[derive(Clone, Debug)]
pub struct Reconstruction {
    /// The layers it matched, e.g. `conv3_2` or `relu1_1 + relu2_1`.
    pub layers: String,
    pub image: Image,
}

#[derive(Clone, Debug)]
pub struct Reconstructions {
    pub content: Vec<Reconstruction>,
    pub style: Vec<Reconstruction>,
    /// The observer stopped the run; the lists hold what was finished.
    pub stopped: bool,
}

/// The layer content is reconstructed from for a block: `conv{block}_2`, as
/// in Gatys et al.'s figure 1.
pub fn content_layer(block: usize) -> Layer {
    format!("conv{block}_2").parse().expect("blocks are 1..=5")
}

/// The style layers for a block: `relu{block}_1`, or with `cumulative`
/// `relu1_1` .. `relu{block}_1`.
pub fn style_layers(block: usize, cumulative: bool) -> Vec<Layer> {
    let first = if cumulative { 1 } else { block };
    (first..=block).map(Layer::first_relu_of_block).collect()
}

impl ReconstructSettings {
    /// The deepest layer any reconstruction needs.
    pub fn deepest_layer(&self) -> Option<Layer> {
        self.blocks.iter().map(|&b| content_layer(b)).max()
    }

    pub fn validate(&self) -> Result<()> {
        if self.blocks.is_empty() {
            return Err(SettingsError::NoBlocks.into());
        }
        if let Some(b) = self.blocks.iter().find(|&&b| !(1..=5).contains(&b)) {
            return Err(SettingsError::NoSuchBlock(*b).into());
        }
        let min = 16; // block 5 sits after four poolings
        if self.size < min {
            return Err(SettingsError::ReconstructionSize { min }.into());
        }
        Ok(())
    }
}

/// Reconstructs `content` and `style` from each block in `settings.blocks`.
pub fn reconstruct(
    net: &Vgg19,
    content: &Image,
    style: &Image,
    settings: &ReconstructSettings,
    observer: &mut dyn Observer,
) -> Result<Reconstructions> {
    settings.validate()?;
    let (w, h) = fit_long_edge(content.width(), content.height(), settings.size);
    if w.min(h) < 16 {
        return Err(SettingsError::ReconstructionTooSmall {
            width: w,
            height: h,
            min: 16,
        }
        .into());
    }
    let content = content.resized(w, h);
    let (sw, sh) = fit_long_edge(style.width(), style.height(), settings.size);
    let style = style.resized(sw, sh);
    // Every reconstruction starts from the same noise, so they differ only
    // by the layers they match.
    let noise = initial_pixels(&Init::Noise, &content, settings.seed, ColorMode::None);

    let stages = vec![(settings.iterations, w * h); 2 * settings.blocks.len()];
    let mut clock = RunClock::new(&stages);
    let mut result = Reconstructions {
        content: Vec::new(),
        style: Vec::new(),
        stopped: false,
    };
    for (i, &block) in settings.blocks.iter().enumerate() {
        let layer = content_layer(block);
        let target = net.features(content.tensor(), &[layer]).remove(0);
        let objective = StyleObjective::new(
            net,
            vec![(layer, 1.0, ContentLoss::new(target))],
            vec![],
            0.0,
        );
        let (image, stopped) = run_stage(objective, &noise, settings, i, &mut clock, observer)?;
        result.content.push(Reconstruction {
            layers: layer.name().to_string(),
            image,
        });
        if stopped {
            result.stopped = true;
            return Ok(result);
        }
    }
    for (i, &block) in settings.blocks.iter().enumerate() {
        let layers = style_layers(block, settings.cumulative);
        let weight = 1.0 / layers.len() as f64;
        let losses = layers
            .iter()
            .zip(net.features(style.tensor(), &layers))
            .map(|(&l, f)| (l, weight, StyleLoss::new(gram(&f))))
            .collect();
        let objective = StyleObjective::new(net, vec![], losses, 0.0);
        let (image, stopped) = run_stage(
            objective,
            &noise,
            settings,
            settings.blocks.len() + i,
            &mut clock,
            observer,
        )?;
        let names: Vec<&str> = layers.iter().map(|l| l.name()).collect();
        result.style.push(Reconstruction {
            layers: names.join(" + "),
            image,
        });
        if stopped {
            result.stopped = true;
            return Ok(result);
        }
    }
    Ok(result)
}

fn run_stage(
    mut objective: StyleObjective<'_>,
    start: &Tensor,
    settings: &ReconstructSettings,
    stage: usize,
    clock: &mut RunClock,
    observer: &mut dyn Observer,
) -> Result<(Image, bool)> {
    let mut pixels = start.clone();
    let present = |t: &Tensor| Image::from_tensor(t.clone());
    let end = optimize(
        &mut objective,
        &mut pixels,
        &settings.optimizer,
        StagePlan::steps(settings.iterations),
        stage,
        clock,
        observer,
        &present,
    )?;
    Ok((Image::from_tensor(pixels), end.stopped))
}

/// The grid of Gatys et al.'s figure 1: the content row (the photo, then its
/// reconstructions) over the style row (the painting, then its).
pub fn reconstruction_grid(content: &Image, style: &Image, r: &Reconstructions) -> Image {
    let cell = r
        .content
        .first()
        .or(r.style.first())
        .map(|c| (c.image.width(), c.image.height()));
    let (w, h) = cell.unwrap_or((content.width(), content.height()));
    let row =
        |title: &str, original: &Image, original_label: &str, cells: &[Reconstruction]| GridRow {
            title: title.to_string(),
            cells: std::iter::once((original_label.to_string(), original.resized(w, h)))
                .chain(
                    cells
                        .iter()
                        .map(|c| (c.layers.clone(), c.image.resized(w, h))),
                )
                .collect(),
        };
    labelled_grid(&[
        row(
            "Content reconstructions: the layout is kept",
            content,
            "content image",
            &r.content,
        ),
        row(
            "Style reconstructions: textures and colours, not places",
            style,
            "style image",
            &r.style,
        ),
    ])
}
