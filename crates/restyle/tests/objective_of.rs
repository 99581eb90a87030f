//! The objective of a finished picture (how schedules are compared).

use restyle::{objective_of, stylize, Image, Settings, Silent, StyleImage, Vgg19};
use restyle_engine::Tensor;

/// Smooth stripes of `tint` on a gradient.
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

fn net() -> Vgg19 {
    Vgg19::embedded_up_to(Settings::default().deepest_layer().unwrap())
}

#[test]
fn a_picture_equal_to_photo_and_painting_costs_only_its_total_variation() {
    let a = picture(48, 40, [0.2, 0.5, 0.9], 3.0);
    let style = [StyleImage::new(a.clone(), 1.0)];
    let settings = Settings::default();
    let losses = objective_of(&net(), &a, &style, &settings, &a).unwrap();
    assert_eq!(losses.content, 0.0);
    assert!(losses.style.abs() < 1e-9, "{losses:?}");
    // Total variation by hand: squared right and lower differences, mean
    // over the 3 x 40 x 48 values, times the weight.
    let t = a.tensor();
    let mut sum = 0.0f64;
    for c in 0..3 {
        let p = t.plane(c);
        for y in 0..40 {
            for x in 0..48 {
                if x + 1 < 48 {
                    sum += ((p[y * 48 + x + 1] - p[y * 48 + x]) as f64).powi(2);
                }
                if y + 1 < 40 {
                    sum += ((p[(y + 1) * 48 + x] - p[y * 48 + x]) as f64).powi(2);
                }
            }
        }
    }
    let expected = settings.tv_weight as f64 * sum / (3.0 * 40.0 * 48.0);
    assert!(
        (losses.tv - expected).abs() < 1e-9 * expected,
        "{} vs {expected}",
        losses.tv
    );
}

#[test]
fn a_finished_run_measures_what_its_last_step_reported() {
    let content = picture(64, 48, [0.2, 0.5, 0.9], 1.5);
    let style = [StyleImage::new(picture(40, 40, [0.9, 0.5, 0.1], 6.0), 1.0)];
    let settings = Settings {
        size: 64,
        iterations: 8,
        stop: None,
        ..Settings::default()
    };
    let net = net();
    let outcome = stylize(&net, &content, &style, &settings, &mut Silent).unwrap();
    let measured = objective_of(&net, &content, &style, &settings, &outcome.image).unwrap();
    let reported = outcome.losses.total();
    // L-BFGS's last evaluation is at the accepted point: the picture it returns.
    assert!(
        (measured.total() - reported).abs() < 1e-4 * reported,
        "measured {measured:?}, the run reported {:?}",
        outcome.losses
    );
    // And the picture is far from the photo: the content term is not zero.
    assert!(measured.content > 0.0 && measured.style > 0.0);
}
