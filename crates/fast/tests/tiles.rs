//! Painting in tiles against painting whole, on a real photo and painting, at a size where
//! both fit: with the whole picture's own statistics the tiles differ from it only where
//! their reflection padding stood in for their neighbours (faded out by the blend); with
//! statistics from a scaled-down copy, by the difference between the two sizes' statistics.

use std::path::Path;

use restyle_fast::{paint, FastStyle, FastTiling};
use restyle_image::tiles::Tiling;
use restyle_image::{ColorMode, Image, StyleImage};

fn example(path: &str) -> Image {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/images");
    Image::from_dynamic(&image::open(root.join(path)).unwrap())
}

/// (largest, mean) absolute difference, in 0..1 units.
fn differences(a: &Image, b: &Image) -> (f32, f32) {
    let (a, b) = (a.tensor().as_slice(), b.tensor().as_slice());
    assert_eq!(a.len(), b.len());
    let d: Vec<f32> = a.iter().zip(b).map(|(x, y)| (x - y).abs()).collect();
    (
        d.iter().cloned().fold(0.0, f32::max),
        d.iter().sum::<f32>() / d.len() as f32,
    )
}

#[test]
fn tiles_match_the_whole_picture() {
    let model = FastStyle::embedded().unwrap();
    let photo = example("content/tubingen.jpg");
    let styles = [StyleImage::new(example("style/starry_night.jpg"), 1.0)];
    let size = 320;
    let run = |tiling: Option<&FastTiling>| {
        paint(&model, &photo, size, &styles, 1.0, ColorMode::None, tiling)
            .unwrap()
            .image
    };
    let whole = run(None);
    // Tiles of at most 192 px sharing at least 96 (3 x 2 tiles of 176 x 172 sharing 104),
    // on a 320 x 240 picture, with the whole picture's statistics: measured largest 0.0077,
    // mean 0.00016 (with 32 px shared, too little for the network's reach of about 60 px:
    // 0.19 and 0.0024).
    let exact = FastTiling {
        tiling: Tiling {
            tile: 192,
            overlap: 96,
        },
        statistics_size: size,
    };
    let tiled = run(Some(&exact));
    assert_eq!(
        (tiled.width(), tiled.height()),
        (whole.width(), whole.height())
    );
    let (largest, mean) = differences(&tiled, &whole);
    eprintln!("tiles, the whole picture's statistics: largest {largest:.4}, mean {mean:.5}");
    assert!(largest < 0.05 && mean < 0.001, "{largest} {mean}");

    // Statistics from the picture at half the size: measured largest 0.41, mean 0.05 (why
    // the CLI measures them at the largest size that fits in memory).
    let scaled = FastTiling {
        statistics_size: size / 2,
        ..exact
    };
    let (largest, mean) = differences(&run(Some(&scaled)), &whole);
    eprintln!("tiles, statistics at half size: largest {largest:.4}, mean {mean:.5}");
    assert!(mean > 0.01 && mean < 0.08, "{largest} {mean}");
}
