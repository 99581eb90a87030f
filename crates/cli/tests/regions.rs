//! `--masks`, `--style-masks`, `--keep` and `--seamless` on the real binary:
//! a small two-painting run, and every bad input refused with exit 2.

use std::path::{Path, PathBuf};
use std::process::Output;

use image::{ImageBuffer, Luma, Rgb};
use restyle_test_support::cli::{assert_refused, restyle};

fn flat(dir: &Path, name: &str, rgb: [u8; 3]) -> PathBuf {
    let path = dir.join(name);
    ImageBuffer::from_pixel(40, 40, Rgb(rgb))
        .save(&path)
        .unwrap();
    path
}

/// A grey mask, `w x h`, white where `inside(x)`.
fn mask(dir: &Path, name: &str, w: u32, h: u32, inside: impl Fn(u32) -> bool) -> PathBuf {
    let path = dir.join(name);
    ImageBuffer::from_fn(w, h, |x, _| Luma([if inside(x) { 255u8 } else { 0 }]))
        .save(&path)
        .unwrap();
    path
}

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        ImageBuffer::from_fn(48, 32, |x, y| {
            let v = (128.0 + 30.0 * ((x + y) as f32 * 0.3).sin()) as u8;
            Rgb([v, v, v])
        })
        .save(d.join("photo.png"))
        .unwrap();
        flat(d, "red.png", [217, 38, 25]);
        flat(d, "blue.png", [25, 64, 217]);
        // Drawn at another size than the photo: they are resized.
        mask(d, "left.png", 30, 20, |x| x < 15);
        mask(d, "right.png", 30, 20, |x| x >= 15);
        mask(d, "black.png", 30, 20, |_| false);
        std::fs::write(d.join("broken.png"), b"not a png").unwrap();
        Self { dir }
    }

    fn run(&self, extra: &[&str]) -> Output {
        let mut args = vec![
            "photo.png",
            "red.png",
            "blue.png",
            "-o",
            "out.png",
            "-s",
            "48",
        ];
        args.extend_from_slice(extra);
        restyle(&args, self.dir.path())
    }
}

#[test]
fn two_paintings_go_where_their_masks_say() {
    let f = Fixture::new();
    let out = f.run(&[
        "-n",
        "30",
        "--content-weight",
        "0.1",
        "--masks",
        "left.png,right.png",
        "-q",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let img = image::open(f.dir.path().join("out.png")).unwrap().to_rgb8();
    assert_eq!(img.dimensions(), (48, 32));
    let mean = |xs: std::ops::Range<u32>| {
        let mut sum = [0f64; 3];
        let mut n = 0.0;
        for y in 0..32 {
            for x in xs.clone() {
                for (c, s) in sum.iter_mut().enumerate() {
                    *s += img.get_pixel(x, y)[c] as f64;
                }
                n += 1.0;
            }
        }
        sum.map(|s| s / n)
    };
    let (left, right) = (mean(0..16), mean(32..48));
    // Red on the left, blue on the right (the photo is grey, 128).
    assert!(left[0] > left[2] + 60.0, "left {left:?}");
    assert!(right[2] > right[0] + 60.0, "right {right:?}");
}

#[test]
fn bad_masks_exit_with_2_and_one_line() {
    let f = Fixture::new();
    assert_refused(
        &f.run(&["--masks", "left.png"]),
        "masks has 1 mask(s) but 2 style image(s) were given",
    );
    assert_refused(
        &f.run(&["--style-masks", "left.png,right.png,left.png"]),
        "style_masks has 3 mask(s) but 2 style image(s)",
    );
    assert_refused(
        &f.run(&["--masks", "left.png,black.png"]),
        "the mask of style image 2 is all black: it marks no region",
    );
    assert_refused(
        &f.run(&["--keep", "black.png"]),
        "the mask of the part to keep is all black",
    );
    assert_refused(&f.run(&["--keep", "broken.png"]), "broken.png");
    assert_refused(&f.run(&["--masks", "left.png,missing.png"]), "missing.png");
    assert_refused(
        &f.run(&["--method", "fast", "--seamless"]),
        "seamless applies to method gatys; method fast paints in one pass",
    );
    let tiled = [
        "photo.png",
        "red.png",
        "-o",
        "out.png",
        "-s",
        "200",
        "--seamless",
        "--tile",
        "--tile-size",
        "64",
    ];
    assert_refused(
        &restyle(&tiled, f.dir.path()),
        "seamless cannot be used with tile",
    );
    assert!(!f.dir.path().join("out.png").exists());
}

fn example(path: &str) -> String {
    format!(
        "{}/../../examples/images/{path}",
        env!("CARGO_MANIFEST_DIR")
    )
}

#[test]
fn the_fast_method_composites_one_picture_per_region() {
    // Each region of the masked fast picture is that painting's own fast
    // picture, and the kept part is the photo.
    let f = Fixture::new();
    let d = f.dir.path();
    let photo = example("content/chelsea.png");
    let (starry, scream) = (
        example("style/starry_night.jpg"),
        example("style/the_scream.jpg"),
    );
    mask(d, "left_half.png", 90, 60, |x| x < 45);
    mask(d, "right_half.png", 90, 60, |x| x >= 45);
    mask(d, "middle.png", 90, 60, |x| (30..60).contains(&x));
    let fast = |styles: &[&str], out: &str, extra: &[&str]| {
        let mut args = vec![photo.as_str()];
        args.extend_from_slice(styles);
        args.extend_from_slice(&["-o", out, "-s", "96", "--method", "fast", "-q"]);
        args.extend_from_slice(extra);
        let o = restyle(&args, d);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        image::open(d.join(out)).unwrap().to_rgb8()
    };
    let a = fast(&[&starry], "a.png", &[]);
    let b = fast(&[&scream], "b.png", &[]);
    let both = fast(
        &[&starry, &scream],
        "both.png",
        &["--masks", "left_half.png,right_half.png"],
    );
    let kept = fast(&[&starry], "kept.png", &["--keep", "middle.png"]);
    let original = image::open(&photo)
        .unwrap()
        .resize_exact(96, 64, image::imageops::FilterType::Lanczos3)
        .to_rgb8();
    assert_eq!(both.dimensions(), a.dimensions());
    let (w, h) = both.dimensions();
    let diff = |p: &image::RgbImage, q: &image::RgbImage, xs: std::ops::Range<u32>| {
        let mut sum = 0.0;
        let mut n = 0.0;
        for y in 0..h {
            for x in xs.clone() {
                for c in 0..3 {
                    sum += (p.get_pixel(x, y)[c] as f64 - q.get_pixel(x, y)[c] as f64).abs();
                    n += 1.0;
                }
            }
        }
        sum / n
    };
    // Away from the masks' soft middle (resizing blurs them a little).
    assert!(diff(&both, &a, 0..w / 2 - 4) < 1.0);
    assert!(diff(&both, &b, w / 2 + 4..w) < 1.0);
    assert!(diff(&a, &b, 0..w) > 20.0, "the two paintings differ");
    assert!(diff(&kept, &original, w / 3 + 4..2 * w / 3 - 4) < 3.0);
    assert!(diff(&kept, &a, 0..w / 3 - 4) < 1.0);
}
