//! The one request's checks: each refusal and its words, the memory estimate, and a run.

use restyle::memory::decoded_image_bytes;
use restyle::{ColorMode, Image, Silent};
use restyle_request::{
    BudgetSource, ErrorKind, Init, Inputs, Limits, Method, Pictures, Request, RequestError,
};

fn fast() -> Request {
    Request {
        method: Method::Fast,
        styles: 1,
        ..Request::default()
    }
}

fn gatys() -> Request {
    Request {
        styles: 1,
        ..Request::default()
    }
}

fn refusal(request: &Request) -> String {
    let e = request.check(&Limits::default()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Invalid, "{e}");
    e.to_string()
}

#[test]
fn options_of_the_other_method_are_refused_by_name() {
    let cases: Vec<(&str, Request)> = vec![
        (
            "iterations",
            Request {
                iterations: Some(10),
                ..fast()
            },
        ),
        (
            "init",
            Request {
                init: Init::Noise,
                ..fast()
            },
        ),
        (
            "style_weight",
            Request {
                style_weight: Some(5.0),
                ..fast()
            },
        ),
        (
            "content_weight",
            Request {
                content_weight: Some(5.0),
                ..fast()
            },
        ),
        (
            "tv_weight",
            Request {
                tv_weight: Some(5.0),
                ..fast()
            },
        ),
        (
            "scales",
            Request {
                scales: Some(2),
                ..fast()
            },
        ),
        (
            "seed",
            Request {
                seed: Some(3),
                ..fast()
            },
        ),
        (
            "style_masks",
            Request {
                style_masks: Some(1),
                ..fast()
            },
        ),
        (
            "seamless",
            Request {
                seamless: true,
                ..fast()
            },
        ),
        (
            "vgg_weights",
            Request {
                vgg_weights: Some("w.pth".into()),
                ..fast()
            },
        ),
    ];
    for (name, request) in cases {
        assert_eq!(
            refusal(&request),
            format!("{name} applies to method gatys; method fast paints in one pass")
        );
    }
    assert_eq!(
        refusal(&Request {
            strength: Some(0.5),
            ..gatys()
        }),
        "strength applies to method fast; for method gatys use style_weight"
    );
    // What the fast method does use passes.
    let plan = Request {
        strength: Some(0.5),
        preserve_colors: ColorMode::Luminance,
        tile: true,
        masks: Some(1),
        keep: true,
        ..fast()
    }
    .check(&Limits::default())
    .unwrap();
    assert_eq!(plan.fast_tiling.unwrap().tiling.tile, 1024);
}

#[test]
fn values_out_of_range_are_refused_in_the_same_words_for_both_methods() {
    for base in [fast(), gatys()] {
        assert_eq!(
            refusal(&Request {
                size: Some(0),
                ..base.clone()
            }),
            "size must be at least 1, not 0"
        );
        assert_eq!(
            refusal(&Request {
                style_blend_weights: Some(vec![1.0, 2.0]),
                ..base.clone()
            }),
            "style_blend_weights has 2 value(s) but 1 style image(s) were given"
        );
        assert_eq!(
            refusal(&Request {
                style_blend_weights: Some(vec![0.0]),
                ..base.clone()
            }),
            "style_blend_weights must be numbers >= 0 with a positive sum"
        );
        assert_eq!(
            refusal(&Request { masks: Some(2), ..base.clone() }),
            "masks has 2 mask(s) but 1 style image(s) were given: give one per style image, in order"
        );
        assert_eq!(
            refusal(&Request {
                styles: 0,
                ..base.clone()
            }),
            "at least one style image is needed"
        );
        assert_eq!(
            refusal(&Request {
                max_memory: Some("lots".into()),
                ..base.clone()
            }),
            "max_memory: `lots` is not a size (try 6G or 800M)"
        );
    }
    assert_eq!(
        refusal(&Request {
            strength: Some(2.0),
            ..fast()
        }),
        "strength must be between 0 and 1, not 2"
    );
    assert_eq!(
        refusal(&Request { seamless: true, tile: true, ..gatys() }),
        "seamless cannot be used with tile: a tile's edges are not the picture's, so it cannot wrap around them"
    );
    assert_eq!(
        refusal(&Request {
            content_weight: Some(-1.0),
            ..gatys()
        }),
        "content_weight must be a number >= 0, not -1"
    );
    assert_eq!(
        refusal(&Request {
            stop_tolerance: Some(-1.0),
            ..gatys()
        }),
        "stop_tolerance must be a number >= 0, not -1"
    );
    assert!(refusal(&Request {
        style_layers: Some("relu9_1".into()),
        ..gatys()
    })
    .starts_with("style_layers: "));
}

#[test]
fn an_operators_limits_bound_the_request() {
    let limits = Limits {
        min_size: Some(16),
        max_size: Some(1024),
        min_iterations: 1,
        max_iterations: Some(500),
        max_weight: Some(1e6),
        style_scale: Some(0.1..=4.0),
        memory: Some((
            1 << 30,
            BudgetSource::Operator {
                who: "this server".into(),
                option: "--max-job-memory".into(),
            },
        )),
    };
    let refused = |r: Request| r.check(&limits).unwrap_err().to_string();
    assert_eq!(
        refused(Request {
            size: Some(2048),
            ..gatys()
        }),
        "size must be from 16 to 1024, not 2048"
    );
    assert_eq!(
        refused(Request {
            iterations: Some(0),
            ..gatys()
        }),
        "iterations must be from 1 to 500, not 0"
    );
    assert_eq!(
        refused(Request {
            style_weight: Some(1e7),
            ..gatys()
        }),
        "style_weight must be a number from 0 to 1000000, not 10000000"
    );
    assert_eq!(
        refused(Request {
            style_scale: Some(5.0),
            ..gatys()
        }),
        "style_scale must be a number from 0.1 to 4, not 5"
    );
    assert!(refused(Request {
        max_memory: Some("1G".into()),
        ..gatys()
    })
    .contains("the operator sets the memory"));
    let plan = gatys().check(&limits).unwrap();
    assert_eq!(
        plan.budget,
        Some((
            1 << 30,
            BudgetSource::Operator {
                who: "this server".into(),
                option: "--max-job-memory".into()
            }
        ))
    );
}

#[test]
fn every_input_counts_for_both_methods() {
    let plain = Inputs {
        content: (6000, 5000),
        styles: vec![(6000, 5000)],
        masks: vec![],
        init: None,
    };
    let full = Inputs {
        styles: vec![(6000, 5000); 2],
        masks: vec![(6000, 5000); 3],
        ..plain.clone()
    };
    for request in [fast(), gatys()] {
        let plan = Request {
            styles: 2,
            ..request
        }
        .check(&Limits::default())
        .unwrap();
        let (a, b) = (plan.needed(&plain, 512), plan.needed(&full, 512));
        // Four more 30-megapixel images: at least their decoded bytes.
        assert!(
            b >= a + 4 * decoded_image_bytes(6000, 5000),
            "{:?}: {a} -> {b}",
            plan.method
        );
    }
}

#[test]
fn the_largest_fitting_size_fits_and_the_next_does_not() {
    let inputs = Inputs {
        content: (4000, 3000),
        styles: vec![(800, 800)],
        masks: vec![],
        init: None,
    };
    for request in [
        fast(),
        gatys(),
        Request {
            init: Init::Fast,
            ..gatys()
        },
    ] {
        let probe = Request {
            size: Some(1024),
            ..request.clone()
        }
        .check(&Limits::default())
        .unwrap();
        let budget = probe.needed(&inputs, 300);
        let mut plan = Request {
            size: Some(1024),
            max_memory: Some(budget.to_string()),
            ..request
        }
        .check(&Limits::default())
        .unwrap();
        let e = plan.fit(&inputs).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Memory);
        let RequestError::TooBig(too_big) = &e else {
            unreachable!()
        };
        let px = too_big.largest_fitting.unwrap();
        assert!(px >= 300 && plan.needed(&inputs, px) <= budget, "{px}");
        assert!(plan.needed(&inputs, px + 1) > budget);
        assert!(
            e.to_string().starts_with("a 1024 px picture needs about "),
            "{e}"
        );
        assert!(
            e.to_string().contains(&format!("at most size {px} fits")),
            "{e}"
        );
    }
}

#[test]
fn pictures_the_method_cannot_use_are_refused_from_their_sizes() {
    let mut plan = Request {
        size: Some(20),
        ..fast()
    }
    .check(&Limits::default())
    .unwrap();
    let inputs = Inputs {
        content: (400, 100),
        styles: vec![(300, 300)],
        masks: vec![],
        init: None,
    };
    assert_eq!(
        plan.fit(&inputs).unwrap_err().to_string(),
        "the content image at size 20 is 20x5: the fast method needs at least 8 pixels a side"
    );
    let mut plan = fast().check(&Limits::default()).unwrap();
    let inputs = Inputs {
        content: (400, 300),
        styles: vec![(300, 20)],
        masks: vec![],
        init: None,
    };
    assert_eq!(
        plan.fit(&inputs).unwrap_err().to_string(),
        "style image 1 is 300x20: the fast method needs at least 32x32 pixels"
    );
    let mut plan = Request {
        style_scale: Some(0.02),
        ..gatys()
    }
    .check(&Limits::default())
    .unwrap();
    let inputs = Inputs {
        content: (400, 300),
        styles: vec![(300, 300)],
        masks: vec![],
        init: None,
    };
    let e = plan.fit(&inputs).unwrap_err().to_string();
    assert!(e.starts_with("style image 1 would be "), "{e}");
    assert!(
        e.ends_with("(raise size, or style_scale for style images)"),
        "{e}"
    );
}

/// A picture with some texture: a colour gradient and stripes.
fn picture(width: u32, height: u32) -> Image {
    let rgb = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([
            (x * 255 / width) as u8,
            (y * 255 / height) as u8,
            ((x / 4 + y / 4) % 2 * 200) as u8,
        ])
    });
    Image::from_dynamic(&image::DynamicImage::ImageRgb8(rgb))
}

#[test]
fn a_flat_painting_or_a_blank_mask_is_refused_before_the_run() {
    let plan = fast().check(&Limits::default()).unwrap();
    let flat = Pictures::new(
        &plan,
        picture(64, 48),
        vec![Image::filled(64, 64, [0.5; 3])],
    );
    assert_eq!(
        plan.paint(&flat, None, &mut Silent)
            .unwrap_err()
            .to_string(),
        "style image 1 is one flat colour: it has no style to transfer"
    );
    let plan = Request {
        keep: true,
        ..gatys()
    }
    .check(&Limits::default())
    .unwrap();
    let mut pictures = Pictures::new(&plan, picture(64, 48), vec![picture(64, 64)]);
    pictures.keep = Some(restyle::Mask::filled(64, 48, 0.0));
    assert_eq!(
        plan.paint(&pictures, None, &mut Silent)
            .unwrap_err()
            .to_string(),
        "the mask of the part to keep is all black: it marks no region"
    );
}

#[test]
fn a_fast_request_paints_what_the_fast_method_paints() {
    let mut plan = Request {
        size: Some(64),
        strength: Some(0.7),
        ..fast()
    }
    .check(&Limits::default())
    .unwrap();
    let pictures = Pictures::new(&plan, picture(80, 60), vec![picture(64, 64)]);
    plan.fit(&pictures.inputs()).unwrap();
    let painted = plan.paint(&pictures, None, &mut Silent).unwrap();
    let model = restyle_fast::FastStyle::embedded().unwrap();
    let direct = restyle_fast::paint(
        &model,
        &pictures.content,
        64,
        &pictures.styles,
        0.7,
        ColorMode::None,
        None,
    )
    .unwrap();
    assert_eq!((painted.image.width(), painted.image.height()), (64, 48));
    assert_eq!(painted.image, direct.image);
    assert_eq!(painted.steps, 0);
}
