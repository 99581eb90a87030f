//! How much memory a run will need, known before it starts.
//!
//! The estimate replays the run's phases (loading the network, measuring
//! the targets, then each scale or tile of the optimisation) and adds, for
//! each, what is alive at its peak: the network's weights, one forward and
//! backward pass (`Vgg19::step_memory_bytes`, which replays the engine's
//! allocations), the losses' temporaries, the optimiser's state, the
//! targets and the images. The largest phase is the run's peak.

use restyle_optim::{Adam, Lbfgs, Optimizer};
use restyle_vgg::{Layer, Vgg19};

use restyle_image::fit_long_edge;

use crate::settings::{OptimizerKind, OptimizerSettings, Settings};

/// What the process holds before any image work: code, the embedded weights
/// file, thread stacks, allocator overhead. Measured with `restyle` on
/// Linux x86-64 (peak RSS of the smallest runs, less the modelled parts).
pub const PROCESS_BASELINE_BYTES: usize = 64 << 20;

/// A run's expected peak, by part.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoryEstimate {
    pub baseline: usize,
    pub weights: usize,
    /// The largest phase beyond the weights: images, targets, optimiser
    /// state and one network pass.
    pub working: usize,
}

impl MemoryEstimate {
    pub fn total(&self) -> usize {
        self.baseline + self.weights + self.working
    }
}

fn rgb_bytes(width: usize, height: usize) -> usize {
    3 * width * height * 4
}

/// Bytes an image file's pixels take once loaded, including the moment of
/// conversion (the decoder's 8-bit pixels and a 16-byte RGBA float copy).
pub fn decoded_image_bytes(width: usize, height: usize) -> usize {
    width * height * (3 + 16) + rgb_bytes(width, height)
}

/// State an optimiser keeps for `n` values.
fn optimizer_bytes(optimizer: &OptimizerSettings, n: usize) -> usize {
    match optimizer.kind {
        OptimizerKind::Lbfgs => Lbfgs::new(optimizer.lbfgs_history).state_bytes(n),
        // Its state does not depend on the rate.
        OptimizerKind::Adam => Adam::new(1.0).state_bytes(n),
    }
}

/// Loss temporaries at a tap: two tensors the size of the layer (a
/// region's weighted activations and their gradient; the plain losses add
/// theirs in place), and for a style layer the Gram matrix's partial sums
/// and difference.
fn loss_bytes(settings: &Settings, layer: Layer, (c, h, w): (usize, usize, usize)) -> usize {
    let activation = c * h * w * 4;
    let style = settings.style_layers.iter().any(|l| l.0 == layer);
    let gram = if style {
        ((h * w).div_ceil(4096) + 2) * c * c * 4
    } else {
        0
    };
    2 * activation + gram
}

/// One optimisation of a `width x height` image (a whole scale or a tile).
fn optimisation_bytes(settings: &Settings, taps: &[Layer], width: usize, height: usize) -> usize {
    let pass = Vgg19::step_memory_bytes(height, width, taps, &|layer, shape| {
        loss_bytes(settings, layer, shape)
    });
    let n = 3 * width * height;
    let content_targets: usize = settings
        .content_layers
        .iter()
        .map(|(l, _)| {
            let (h, w) = l.output_size(height, width);
            l.channels() * h * w * 4
        })
        .sum();
    // The pixels, their copy for the evaluation, the target image.
    pass + optimizer_bytes(&settings.optimizer_settings(), n) + 3 * n * 4 + content_targets
}

/// Gram matrices of every style layer.
fn gram_bytes(settings: &Settings) -> usize {
    settings
        .style_layers
        .iter()
        .map(|(l, _)| l.channels() * l.channels() * 4)
        .sum::<usize>()
}

/// The peak of a run on a `content` sized photo with `styles` sized style
/// images (their sizes as decoded).
pub fn estimate(
    settings: &Settings,
    content: (usize, usize),
    styles: &[(usize, usize)],
) -> MemoryEstimate {
    let deepest = settings
        .deepest_layer()
        .unwrap_or_else(|| "conv1_1".parse().expect("a layer"));
    let mut taps: Vec<Layer> = settings
        .content_layers
        .iter()
        .chain(&settings.style_layers)
        .map(|l| l.0)
        .collect();
    taps.sort();
    taps.dedup();
    let style_layers: Vec<Layer> = settings.style_layers.iter().map(|l| l.0).collect();
    // Held through the whole run: the decoded inputs and the style targets.
    let inputs = decoded_image_bytes(content.0, content.1)
        + styles
            .iter()
            .map(|&(w, h)| decoded_image_bytes(w, h))
            .sum::<usize>();
    let held = inputs + 2 * gram_bytes(settings) * styles.len().max(1);

    let mut working = held;
    for scale in settings.plan(content.0, content.1) {
        let size = scale.width.max(scale.height);
        let tiles = settings
            .tiling
            .and_then(|t| t.tiles(scale.width, scale.height));
        // This scale's photo and content target, and the previous result.
        let mut scale_bytes = 3 * rgb_bytes(scale.width, scale.height);
        if tiles.is_some() {
            // The picture being assembled: its start, the blend's sums and
            // weights, and the blended view each tile starts from.
            scale_bytes +=
                3 * rgb_bytes(scale.width, scale.height) + scale.width * scale.height * 4;
        }
        // Measuring the style targets at this scale. Absurd style scales are
        // capped so the arithmetic cannot overflow; they are refused anyway.
        let style_edge = ((size as f32 * settings.style_scale).round() as usize).clamp(1, 1 << 20);
        let measuring = styles
            .iter()
            .map(|&(w, h)| {
                let (sw, sh) = fit_long_edge(w, h, style_edge);
                let (sw, sh) = match settings.tiling {
                    Some(t) if sw.max(sh) > t.tile => (sw.min(t.tile), sh.min(t.tile)),
                    _ => (sw, sh),
                };
                let (rw, rh) = fit_long_edge(w, h, style_edge);
                rgb_bytes(rw, rh) + Vgg19::features_memory_bytes(sh, sw, &style_layers)
            })
            .max()
            .unwrap_or(0);
        let (ow, oh) = match &tiles {
            Some(tiles) => tiles
                .iter()
                .map(|t| (t.width, t.height))
                .max_by_key(|&(w, h)| w * h)
                .unwrap_or((0, 0)),
            None => (scale.width, scale.height),
        };
        let optimising = optimisation_bytes(settings, &taps, ow, oh);
        working = working.max(held + scale_bytes + measuring.max(optimising));
    }
    MemoryEstimate {
        baseline: PROCESS_BASELINE_BYTES,
        weights: Vgg19::weight_memory_bytes(deepest),
        working,
    }
}

/// Memory the system can give this process now (Linux's `MemAvailable`);
/// `None` where it cannot be read.
pub fn available_bytes() -> Option<usize> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The largest output size (long edge) whose run fits in `budget` bytes,
/// with everything else as in `settings`; `None` if not even the smallest.
pub fn largest_fitting_size(
    settings: &Settings,
    content: (usize, usize),
    styles: &[(usize, usize)],
    budget: usize,
) -> Option<usize> {
    let fits = |size: usize| {
        estimate(
            &Settings {
                size,
                ..settings.clone()
            },
            content,
            styles,
        )
        .total()
            <= budget
    };
    let (mut lo, mut hi) = (settings.min_side(), settings.size.max(settings.min_side()));
    if !fits(lo) {
        return None;
    }
    while fits(hi) {
        lo = hi;
        hi *= 2;
        if hi > 1 << 20 {
            return Some(lo);
        }
    }
    // Invariant: lo fits, hi does not.
    while hi - lo > 1 {
        let mid = (lo + hi) / 2;
        if fits(mid) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Some(lo)
}

/// The largest tile [`fit`] picks by itself: larger tiles mean fewer seams,
/// but past this the whole picture at a coarser scale guides them well enough.
pub const MAX_AUTO_TILE: usize = 1024;

/// The smallest tile [`fit`] shrinks to before giving up.
const MIN_AUTO_TILE: usize = 128;

/// A run that fits its budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fit {
    /// The estimated peak, bytes.
    pub needed: usize,
}

/// A run that does not fit its budget, with what would.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "a {size} px result needs about {} and {} is available{}",
    format_bytes(*needed),
    format_bytes(*budget),
    match (tile, largest_fitting) {
        (Some(t), _) => format!(", even in tiles of {t} px"),
        (None, Some(px)) => format!(": at most {px} px fits"),
        (None, None) => ": not even the smallest size fits".to_string(),
    }
)]
pub struct NotEnoughMemory {
    /// The output's long edge asked for.
    pub size: usize,
    /// The estimated peak, bytes.
    pub needed: usize,
    /// The budget, bytes.
    pub budget: usize,
    /// The largest output long edge that fits untiled, if any.
    pub largest_fitting: Option<usize>,
    /// The tile size in use, for a tiled run.
    pub tile: Option<usize>,
}

/// Checks, from the images' sizes alone (`content` and `styles` as decoded,
/// width x height), that a run fits in `budget` bytes. With `auto_tile` and
/// tiling on, first picks the largest tile up to [`MAX_AUTO_TILE`] that fits
/// and writes it into `settings`.
pub fn fit(
    settings: &mut Settings,
    content: (usize, usize),
    styles: &[(usize, usize)],
    budget: usize,
    auto_tile: bool,
) -> Result<Fit, NotEnoughMemory> {
    if let (Some(tiling), true) = (settings.tiling, auto_tile) {
        let with_tile = |tile| Settings {
            tiling: Some(crate::Tiling { tile, ..tiling }),
            ..settings.clone()
        };
        let mut tile = MAX_AUTO_TILE;
        while tile > MIN_AUTO_TILE && estimate(&with_tile(tile), content, styles).total() > budget {
            tile = tile * 3 / 4;
        }
        settings.tiling = Some(crate::Tiling { tile, ..tiling });
    }
    let needed = estimate(settings, content, styles).total();
    if needed <= budget {
        return Ok(Fit { needed });
    }
    let untiled = Settings {
        tiling: None,
        ..settings.clone()
    };
    Err(NotEnoughMemory {
        size: settings.size,
        needed,
        budget,
        largest_fitting: largest_fitting_size(&untiled, content, styles, budget),
        tile: settings.tiling.map(|t| t.tile),
    })
}

/// `1.5 GiB`, `730 MiB`.
pub fn format_bytes(bytes: usize) -> String {
    let mib = bytes as f64 / (1u64 << 20) as f64;
    if mib >= 1024.0 {
        format!("{:.1} GiB", mib / 1024.0)
    } else {
        format!("{mib:.0} MiB")
    }
}

/// Parses `8G`, `512M`, `2.5GiB`, `1000000` (bytes).
pub fn parse_bytes(text: &str) -> Option<usize> {
    let t = text.trim();
    let split = t.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let value: f64 = number.trim().parse().ok()?;
    let scale = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" | "kib" => 1024.0,
        "m" | "mb" | "mib" => 1024.0 * 1024.0,
        "g" | "gb" | "gib" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tb" | "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    (value.is_finite() && value > 0.0).then_some((value * scale) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_units() {
        assert_eq!(parse_bytes("8G"), Some(8 << 30));
        assert_eq!(parse_bytes("512 MiB"), Some(512 << 20));
        assert_eq!(parse_bytes("1.5g"), Some(3 << 29));
        assert_eq!(parse_bytes("4096"), Some(4096));
        assert_eq!(parse_bytes("-1G"), None);
        assert_eq!(parse_bytes("lots"), None);
    }

    #[test]
    fn the_estimate_grows_with_size_and_the_largest_fitting_size_fits() {
        let settings = Settings::default();
        let small = estimate(
            &Settings {
                size: 256,
                ..settings.clone()
            },
            (1024, 768),
            &[(1024, 640)],
        )
        .total();
        let large = estimate(
            &Settings {
                size: 1024,
                ..settings.clone()
            },
            (1024, 768),
            &[(1024, 640)],
        )
        .total();
        assert!(large > 2 * small, "{small} {large}");
        let budget = 3 << 30;
        let size = largest_fitting_size(&settings, (1024, 768), &[(1024, 640)], budget).unwrap();
        assert!(
            estimate(
                &Settings {
                    size,
                    ..settings.clone()
                },
                (1024, 768),
                &[(1024, 640)]
            )
            .total()
                <= budget
        );
        assert!(
            estimate(
                &Settings {
                    size: size + 1,
                    ..settings
                },
                (1024, 768),
                &[(1024, 640)]
            )
            .total()
                > budget
        );
    }

    #[test]
    fn tiles_bound_the_working_memory() {
        let whole = Settings {
            size: 4096,
            ..Settings::default()
        };
        let tiled = Settings {
            tiling: Some(crate::Tiling {
                tile: 1024,
                overlap: 128,
            }),
            ..whole.clone()
        };
        let (a, b) = (
            estimate(&whole, (1024, 768), &[(1024, 640)]),
            estimate(&tiled, (1024, 768), &[(1024, 640)]),
        );
        assert!(
            b.total() * 3 < a.total(),
            "tiled {} vs whole {}",
            b.total(),
            a.total()
        );
    }

    #[test]
    fn fit_refuses_with_the_numbers_and_what_fits() {
        let mut settings = Settings {
            size: 3000,
            ..Settings::default()
        };
        let budget = 900 << 20;
        let refused = fit(&mut settings, (1024, 768), &[(1024, 640)], budget, true).unwrap_err();
        assert_eq!(
            (refused.size, refused.budget, refused.tile),
            (3000, budget, None)
        );
        assert!(refused.needed > budget);
        let px = refused.largest_fitting.expect("a smaller size fits");
        assert!(px < 3000);
        let mut smaller = Settings {
            size: px,
            ..Settings::default()
        };
        let fitted = fit(&mut smaller, (1024, 768), &[(1024, 640)], budget, true).unwrap();
        assert!(fitted.needed <= budget);
        let message = refused.to_string();
        assert!(
            message.contains(&format!("at most {px} px fits")),
            "{message}"
        );
        assert!(!message.contains("--"), "no command-line flags: {message}");
    }

    #[test]
    fn fit_picks_a_smaller_tile_only_when_asked() {
        let tiled = Settings {
            size: 4096,
            tiling: Some(crate::Tiling {
                tile: MAX_AUTO_TILE,
                overlap: 64,
            }),
            ..Settings::default()
        };
        let big_tile = estimate(&tiled, (1024, 768), &[(1024, 640)]).total();
        let budget = big_tile - (big_tile >> 3);
        let mut auto = tiled.clone();
        let fitted = fit(&mut auto, (1024, 768), &[(1024, 640)], budget, true).unwrap();
        let tile = auto.tiling.unwrap().tile;
        assert!(tile < MAX_AUTO_TILE && fitted.needed <= budget, "{tile}");
        let mut fixed = tiled.clone();
        let refused = fit(&mut fixed, (1024, 768), &[(1024, 640)], budget, false).unwrap_err();
        assert_eq!(refused.tile, Some(MAX_AUTO_TILE));
        assert_eq!(fixed.tiling.unwrap().tile, MAX_AUTO_TILE, "left as given");
    }

    #[test]
    fn absurd_style_scales_are_refused_not_overflowed() {
        for style_scale in [1000.0, 1e30, f32::MAX] {
            let mut settings = Settings {
                size: 64,
                style_scale,
                ..Settings::default()
            };
            let refused = fit(&mut settings, (48, 36), &[(40, 40)], 8 << 30, false);
            assert!(refused.is_err(), "style_scale {style_scale}");
        }
    }
}
