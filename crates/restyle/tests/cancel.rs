//! A run can be stopped while its targets are measured, before any step:
//! the observer is asked before each style image and each tile of a large one.

use restyle::{stylize, Flow, Image, Observer, Progress, Settings, StyleImage, Tiling, Vgg19};
use restyle_engine::Tensor;

fn picture(w: usize, h: usize) -> Image {
    let mut t = Tensor::zeros(3, h, w);
    for c in 0..3 {
        for (i, v) in t.plane_mut(c).iter_mut().enumerate() {
            let (x, y) = ((i % w) as f32, (i / w) as f32);
            *v = 0.5 + 0.4 * ((x * (0.2 + 0.1 * c as f32)).sin() * (y * 0.13).cos());
        }
    }
    Image::from_tensor(t)
}

/// Stops at the `stop_at`-th question about the targets (never if 0);
/// counts the questions and the steps.
struct Stopper {
    stop_at: usize,
    questions: usize,
    steps: usize,
}

impl Observer for Stopper {
    fn on_step(&mut self, _: &Progress<'_>) -> Flow {
        self.steps += 1;
        Flow::Continue
    }

    fn on_targets(&mut self) -> Flow {
        self.questions += 1;
        if self.questions == self.stop_at {
            Flow::Stop
        } else {
            Flow::Continue
        }
    }
}

/// A 48 px output whose style image, at 3x, is measured in 25 tiles.
fn settings() -> Settings {
    Settings {
        size: 48,
        iterations: 3,
        style_scale: 3.0,
        tiling: Some(Tiling {
            tile: 64,
            overlap: 16,
        }),
        ..Settings::default()
    }
}

fn run(stop_at: usize) -> (restyle::Outcome, Stopper) {
    let net = Vgg19::embedded_up_to(Settings::default().deepest_layer().unwrap());
    let styles = [
        StyleImage::new(picture(40, 40), 1.0),
        StyleImage::new(picture(30, 50), 1.0),
    ];
    let mut observer = Stopper {
        stop_at,
        questions: 0,
        steps: 0,
    };
    let outcome = stylize(&net, &picture(64, 48), &styles, &settings(), &mut observer).unwrap();
    (outcome, observer)
}

#[test]
fn the_observer_is_asked_before_each_style_image_and_tile() {
    let (outcome, observer) = run(0);
    assert!(!outcome.stopped);
    assert_eq!(observer.steps, 3);
    // Two style images, each asked once and then once per tile (at least 16
    // tiles each at 144 px), and once before the content.
    assert!(observer.questions > 2 * 17, "{}", observer.questions);
}

#[test]
fn stopping_while_targets_are_measured_ends_the_run_before_any_step() {
    for stop_at in [1, 2, 5, 30] {
        let (outcome, observer) = run(stop_at);
        assert_eq!(observer.questions, stop_at, "no question after the stop");
        assert!(outcome.stopped, "stopped at question {stop_at}");
        assert_eq!((outcome.steps, observer.steps), (0, 0));
        assert_eq!((outcome.image.width(), outcome.image.height()), (48, 36));
    }
}
