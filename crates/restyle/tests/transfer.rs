//! Whole runs of the library on small images.

use restyle::color::rgb_to_yiq;
use restyle::{
    stylize, ColorMode, Flow, Image, Init, OptimizerKind, Progress, ScaleSchedule, Settings,
    StopRule, StyleImage, Vgg19,
};
use restyle_engine::Tensor;

/// A smooth, colourful picture: stripes of `hue` on a gradient.
fn picture(w: usize, h: usize, tint: [f32; 3], stripes: f32) -> Image {
    let mut t = Tensor::zeros(3, h, w);
    for (c, tint) in tint.iter().enumerate() {
        for y in 0..h {
            for x in 0..w {
                let wave = ((x as f32 * stripes / w as f32 + y as f32 / h as f32)
                    * std::f32::consts::TAU)
                    .sin();
                t.plane_mut(c)[y * w + x] =
                    (tint * (0.6 + 0.35 * wave) + 0.05 * c as f32).clamp(0.0, 1.0);
            }
        }
    }
    Image::from_tensor(t)
}

fn small(iterations: usize) -> Settings {
    Settings {
        size: 48,
        iterations,
        ..Settings::default()
    }
}

fn net() -> Vgg19 {
    Vgg19::embedded_up_to(Settings::default().deepest_layer().unwrap())
}

fn style() -> Vec<StyleImage> {
    vec![StyleImage::new(picture(40, 40, [0.9, 0.5, 0.1], 6.0), 1.0)]
}

fn losses_of(settings: &Settings) -> Vec<f64> {
    let content = picture(64, 48, [0.2, 0.5, 0.9], 1.5);
    let mut seen = Vec::new();
    stylize(&net(), &content, &style(), settings, &mut |p: &Progress<
        '_,
    >| {
        seen.push(p.losses.total());
        Flow::Continue
    })
    .unwrap();
    seen
}

#[test]
fn lbfgs_lowers_the_loss() {
    let l = losses_of(&small(15));
    assert_eq!(l.len(), 15);
    assert!(l[14] < 0.5 * l[0], "{l:?}");
}

#[test]
fn adam_lowers_the_loss() {
    let l = losses_of(&Settings {
        optimizer: OptimizerKind::Adam,
        learning_rate: Some(0.03),
        ..small(30)
    });
    assert!(l[29] < 0.7 * l[0], "{l:?}");
}

#[test]
fn the_observer_can_stop_a_run() {
    let content = picture(64, 48, [0.2, 0.5, 0.9], 1.5);
    let mut calls = 0;
    let outcome = stylize(
        &net(),
        &content,
        &style(),
        &small(50),
        &mut |_: &Progress<'_>| {
            calls += 1;
            if calls == 3 {
                Flow::Stop
            } else {
                Flow::Continue
            }
        },
    )
    .unwrap();
    assert!(outcome.stopped);
    assert_eq!(outcome.steps, 3);
    assert_eq!((outcome.image.width(), outcome.image.height()), (48, 36));
}

#[test]
fn a_scale_stops_once_its_loss_stops_falling() {
    let content = picture(64, 48, [0.2, 0.5, 0.9], 1.5);
    let rule = StopRule {
        window: 5,
        tolerance: 0.01,
    };
    let run = |stop| {
        let mut seen = Vec::new();
        let settings = Settings { stop, ..small(100) };
        let outcome = stylize(
            &net(),
            &content,
            &style(),
            &settings,
            &mut |p: &Progress<'_>| {
                seen.push((p.relative_decrease, p.losses.total()));
                Flow::Continue
            },
        )
        .unwrap();
        (outcome, seen)
    };
    let (stopped, seen) = run(Some(rule));
    // It stops at step 61; without the rule every one of the 100 steps runs.
    assert!(stopped.steps < 100, "never stopped: {seen:?}");
    assert_eq!(seen.len(), stopped.steps);
    // The decrease is reported once a window of steps has run, and the
    // scale ends at the first window that fell by less than the tolerance.
    assert!(
        seen[..rule.window].iter().all(|s| s.0.is_none()),
        "{seen:?}"
    );
    let (last, earlier) = seen.split_last().unwrap();
    assert!(last.0.unwrap() < rule.tolerance, "{seen:?}");
    assert!(
        earlier[rule.window..]
            .iter()
            .all(|s| s.0.unwrap() >= rule.tolerance),
        "{seen:?}"
    );
    // Where it stopped, little was left to gain: all 100 steps do barely better
    // (3 % lower; 150 steps, 5 %).
    let (full, all) = run(None);
    assert_eq!(full.steps, 100);
    assert!(all.iter().all(|s| s.0.is_none()));
    assert!(
        stopped.losses.total() < 1.15 * full.losses.total(),
        "stopped at {} where 100 steps reach {}",
        stopped.losses.total(),
        full.losses.total()
    );
}

#[test]
fn coarse_to_fine_reports_every_scale_with_one_count() {
    let content = picture(64, 48, [0.2, 0.5, 0.9], 1.5);
    let settings = Settings {
        scales: ScaleSchedule {
            start_size: Some(32),
            scales: Some(3),
            ..Default::default()
        },
        ..small(8)
    };
    let mut seen = Vec::new();
    let outcome = stylize(
        &net(),
        &content,
        &style(),
        &settings,
        &mut |p: &Progress<'_>| {
            seen.push((p.step, p.total_steps, p.stage, p.stages, p.size(), p.eta));
            Flow::Continue
        },
    )
    .unwrap();
    // 8 steps at the first scale, then 2 (a quarter) at each later one.
    assert_eq!(seen.len(), 12);
    assert!(seen
        .iter()
        .enumerate()
        .all(|(i, s)| s.0 == i + 1 && s.1 == 12 && s.3 == 3));
    let sizes: Vec<_> = seen.iter().map(|s| (s.2, s.4)).collect();
    assert_eq!(sizes[0], (0, (32, 24)));
    assert_eq!(sizes[7], (0, (32, 24)));
    assert_eq!(sizes[8], (1, (39, 29)));
    assert_eq!(sizes[11], (2, (48, 36)));
    assert_eq!(
        seen[11].5,
        Some(std::time::Duration::ZERO),
        "nothing left at the end"
    );
    assert_eq!((outcome.image.width(), outcome.image.height()), (48, 36));
}

/// Mean chroma (length of the I, Q vector) of an image.
fn mean_chroma(image: &Image) -> f64 {
    let yiq = rgb_to_yiq(image);
    let (i, q) = (yiq.plane(1), yiq.plane(2));
    i.iter()
        .zip(q)
        .map(|(&a, &b)| ((a * a + b * b) as f64).sqrt())
        .sum::<f64>()
        / i.len() as f64
}

/// Mean I and Q: the average colour cast.
fn mean_iq(image: &Image) -> (f64, f64) {
    let yiq = rgb_to_yiq(image);
    let n = yiq.plane_len() as f64;
    (
        yiq.plane(1).iter().map(|&v| v as f64).sum::<f64>() / n,
        yiq.plane(2).iter().map(|&v| v as f64).sum::<f64>() / n,
    )
}

#[test]
fn luminance_mode_keeps_the_photo_colours_and_histogram_mode_moves_towards_them() {
    // A blue photo, an orange painting.
    let content = picture(64, 48, [0.2, 0.45, 0.9], 1.5);
    let reference = content.resized(48, 36);
    let run = |color| {
        let settings = Settings { color, ..small(20) };
        let outcome = stylize(&net(), &content, &style(), &settings, &mut restyle::Silent).unwrap();
        outcome.image
    };
    let styled = run(ColorMode::None);
    let luminance = run(ColorMode::Luminance);
    let histogram = run(ColorMode::Histogram);

    // Luminance-only: the chroma is the photo's, pixel for pixel.
    let (a, b) = (rgb_to_yiq(&luminance), rgb_to_yiq(&reference));
    for c in 1..3 {
        for (x, y) in a.plane(c).iter().zip(b.plane(c)) {
            assert!((x - y).abs() < 1e-4);
        }
    }
    // The plain transfer pulls the colour cast towards orange; the histogram
    // mode stays much nearer the photo's.
    let distance = |img: &Image| {
        let ((i1, q1), (i2, q2)) = (mean_iq(img), mean_iq(&reference));
        ((i1 - i2).powi(2) + (q1 - q2).powi(2)).sqrt()
    };
    assert!(
        distance(&histogram) < 0.5 * distance(&styled),
        "{} vs {}",
        distance(&histogram),
        distance(&styled)
    );
    assert!((mean_chroma(&luminance) - mean_chroma(&reference)).abs() < 1e-4);
}

#[test]
fn runs_are_deterministic() {
    let content = picture(64, 48, [0.2, 0.5, 0.9], 1.5);
    let settings = Settings {
        init: Init::Noise,
        seed: 5,
        ..small(5)
    };
    let a = stylize(&net(), &content, &style(), &settings, &mut restyle::Silent).unwrap();
    let b = stylize(&net(), &content, &style(), &settings, &mut restyle::Silent).unwrap();
    assert_eq!(a.image, b.image);
    let c = stylize(
        &net(),
        &content,
        &style(),
        &Settings {
            seed: 6,
            ..settings
        },
        &mut restyle::Silent,
    )
    .unwrap();
    assert_ne!(a.image, c.image);
}

#[test]
fn cached_style_targets_paint_what_fresh_ones_paint_and_count_once() {
    use restyle::{stylize_cached, Progress, StyleTargetCache};
    // Counts the style images measured: `on_targets` is asked before each one, and once
    // more before the content targets.
    struct Targets(usize);
    impl restyle::Observer for Targets {
        fn on_targets(&mut self) -> restyle::Flow {
            self.0 += 1;
            restyle::Flow::Continue
        }
        fn on_step(&mut self, _: &Progress<'_>) -> restyle::Flow {
            restyle::Flow::Continue
        }
    }
    let settings = small(4);
    let mut cache = StyleTargetCache::default();
    let (first, second) = (
        picture(64, 48, [0.2, 0.5, 0.9], 1.5),
        picture(64, 48, [0.3, 0.4, 0.8], 1.5),
    );
    // The first frame measures the one style image; the second takes it from the cache.
    let mut asked = Targets(0);
    stylize_cached(&net(), &first, &style(), &settings, &mut cache, &mut asked).unwrap();
    assert_eq!(asked.0, 2);
    let mut asked = Targets(0);
    let cached =
        stylize_cached(&net(), &second, &style(), &settings, &mut cache, &mut asked).unwrap();
    assert_eq!(asked.0, 1);
    let fresh = stylize(&net(), &second, &style(), &settings, &mut restyle::Silent).unwrap();
    assert_eq!(fresh.image, cached.image);
}

#[test]
fn tiled_runs_cover_the_picture_without_seams() {
    use restyle::Tiling;
    let content = picture(128, 96, [0.2, 0.5, 0.9], 1.5);
    let settings = Settings {
        size: 128,
        iterations: 6,
        tiling: Some(Tiling {
            tile: 64,
            overlap: 24,
        }),
        scales: ScaleSchedule {
            start_size: Some(64),
            scales: Some(2),
            refine_iterations: Some(6),
        },
        ..Settings::default()
    };
    let mut stages = std::collections::BTreeSet::new();
    let mut sizes = Vec::new();
    let outcome = stylize(
        &net(),
        &content,
        &style(),
        &settings,
        &mut |p: &Progress<'_>| {
            stages.insert(p.stage);
            sizes.push(p.size());
            Flow::Continue
        },
    )
    .unwrap();
    // The 64 px scale is whole; the 128x96 one takes 3x2 tiles of at most 64x64
    // (60x61: no larger than the 24 px overlaps need).
    assert_eq!(stages.len(), 1 + 6);
    assert!(sizes[..6].iter().all(|&s| s == (64, 48)));
    assert!(sizes[6..].iter().all(|&s| s == (60, 61)));
    assert_eq!((outcome.image.width(), outcome.image.height()), (128, 96));
    assert_eq!(outcome.steps, 7 * 6);
    // No seam: along tile edges, neighbouring pixels differ no more than
    // they do on average across the picture.
    let t = outcome.image.tensor();
    let step = |x: usize| -> f64 {
        (0..3)
            .map(|c| {
                (0..96)
                    .map(|y| (t.get(c, y, x + 1) - t.get(c, y, x)).abs() as f64)
                    .sum::<f64>()
            })
            .sum::<f64>()
    };
    let typical = (0..127).map(step).sum::<f64>() / 127.0;
    for edge in [31, 32, 63, 64, 95, 96] {
        assert!(
            step(edge) < 3.0 * typical,
            "column {edge}: {} vs {typical}",
            step(edge)
        );
    }
}

#[test]
fn every_picture_a_run_reports_or_returns_stays_in_range() {
    // Unbounded, L-BFGS takes this problem's pixels outside 0..1 within 30
    // steps (and saving would clip them); bounded, none leaves.
    let content = picture(64, 48, [0.2, 0.5, 0.9], 1.5);
    let mut outside = 0;
    let outcome = stylize(
        &net(),
        &content,
        &style(),
        &small(30),
        &mut |p: &Progress<'_>| {
            outside += p
                .image()
                .tensor()
                .as_slice()
                .iter()
                .filter(|v| !(0.0..=1.0).contains(*v))
                .count();
            Flow::Continue
        },
    )
    .unwrap();
    assert_eq!(outside, 0);
    assert!(outcome
        .image
        .tensor()
        .as_slice()
        .iter()
        .all(|v| (0.0..=1.0).contains(v)));
    assert_eq!(outcome.steps, 30);
}
