//! Times the fast model's two networks on one content and style image, for `bench/fast.py`.
//!
//! `cargo run --release -p restyle-fast --example network_time -- CONTENT STYLE [REPEATS]`
//! prints `{"first": s, "median": s}`: the first run (with its first-touch allocations, as a
//! command pays it) and the median of the following ones. The content is used at its own
//! size; the style image is resized to 256x256 (the bench prepares it square).

use std::time::Instant;

use restyle_engine::Tensor;
use restyle_fast::{FastStyle, STYLE_SIZE};

fn tensor(img: &image::RgbImage) -> Tensor {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let mut t = Tensor::zeros(3, h, w);
    for c in 0..3 {
        for (i, v) in t.plane_mut(c).iter_mut().enumerate() {
            *v = img.get_pixel((i % w) as u32, (i / w) as u32)[c] as f32 / 255.0;
        }
    }
    t
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: network_time CONTENT STYLE [REPEATS]");
        std::process::exit(2);
    }
    let content = tensor(&image::open(&args[1]).expect("content image").to_rgb8());
    let style = image::open(&args[2]).expect("style image").resize_exact(
        STYLE_SIZE as u32,
        STYLE_SIZE as u32,
        image::imageops::FilterType::Lanczos3,
    );
    let style = tensor(&style.to_rgb8());
    let repeats: usize = args.get(3).map_or(5, |r| r.parse().expect("REPEATS"));
    let model = FastStyle::embedded().expect("embedded weights");
    let mut times = Vec::new();
    for _ in 0..=repeats {
        let started = Instant::now();
        let vector = model.style_vector(&style).unwrap();
        let picture = model.stylize(&content, &vector).unwrap();
        times.push(started.elapsed().as_secs_f64());
        assert_eq!(picture.shape(), content.shape());
    }
    let first = times[0];
    let mut rest = times[1..].to_vec();
    rest.sort_by(f64::total_cmp);
    let median = if rest.is_empty() {
        first
    } else {
        rest[rest.len() / 2]
    };
    println!("{{\"first\": {first}, \"median\": {median}}}");
}
