//! `restyle --method fast` and `--init fast`, driven end to end through the real binary.

use std::path::{Path, PathBuf};
use std::process::Output;

use image::{ImageBuffer, Luma, Rgb, RgbImage};
use restyle_test_support::cli::{assert_refused, restyle, stderr};

/// A smooth, colourful picture; `seed` changes its pattern.
fn write_rgb(dir: &Path, name: &str, w: u32, h: u32, seed: u32) -> PathBuf {
    let img = ImageBuffer::from_fn(w, h, |x, y| {
        Rgb([
            ((x * 255 / w + seed * 40) % 256) as u8,
            ((y * 255 / h) ^ (seed * 17)) as u8,
            ((x * (3 + seed) + y * 7) * 13 % 256) as u8,
        ])
    });
    let path = dir.join(name);
    img.save(&path).unwrap();
    path
}

fn assert_ok(out: &Output) {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status.code(),
        stderr(out)
    );
}

fn read(dir: &Path, name: &str) -> RgbImage {
    image::open(dir.join(name)).unwrap().to_rgb8()
}

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        write_rgb(dir.path(), "content.png", 120, 90, 0);
        write_rgb(dir.path(), "a.png", 64, 64, 1);
        write_rgb(dir.path(), "b.png", 80, 48, 2);
        Self { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `restyle content.png STYLES... -o OUT --method fast -s 64 EXTRA...`
    fn fast(&self, styles: &[&str], out: &str, extra: &[&str]) -> Output {
        let mut args = vec!["content.png"];
        args.extend_from_slice(styles);
        args.extend_from_slice(&["-o", out, "--method", "fast", "-q"]);
        if !extra.contains(&"--size") {
            args.extend_from_slice(&["-s", "64"]);
        }
        args.extend_from_slice(extra);
        restyle(&args, self.path())
    }
}

#[test]
fn fast_method_paints_at_the_requested_size() {
    let f = Fixture::new();
    let out = f.fast(&["a.png"], "out.png", &["--json"]);
    assert_ok(&out);
    let picture = read(f.path(), "out.png");
    assert_eq!(picture.dimensions(), (64, 48));
    let content = image::open(f.path().join("content.png"))
        .unwrap()
        .resize_exact(64, 48, image::imageops::FilterType::Triangle);
    assert!(
        picture.as_raw() != content.to_rgb8().as_raw(),
        "the picture is painted"
    );
    let done: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim()).unwrap();
    assert_eq!(done["event"], "done");
    assert_eq!(done["method"], "fast");
    assert!(done["network_seconds"].as_f64().unwrap() > 0.0);
}

#[test]
fn strength_zero_paints_with_the_content_s_own_style() {
    let f = Fixture::new();
    assert_ok(&f.fast(&["a.png"], "zero_a.png", &["--strength", "0"]));
    assert_ok(&f.fast(&["b.png"], "zero_b.png", &["--strength", "0"]));
    assert_ok(&f.fast(&["content.png"], "own.png", &[]));
    assert_ok(&f.fast(&["a.png"], "half.png", &["--strength", "0.5"]));
    let own = read(f.path(), "own.png");
    assert!(
        read(f.path(), "zero_a.png") == own,
        "strength 0 ignores the painting"
    );
    assert!(
        read(f.path(), "zero_b.png") == own,
        "strength 0 ignores the painting"
    );
    assert!(read(f.path(), "half.png") != own, "strength 0.5 does not");
}

#[test]
fn blend_weights_mix_styles_in_style_space() {
    let f = Fixture::new();
    assert_ok(&f.fast(&["a.png"], "a_only.png", &[]));
    assert_ok(&f.fast(&["b.png"], "b_only.png", &[]));
    assert_ok(&f.fast(
        &["a.png", "b.png"],
        "a_by_weight.png",
        &["--style-blend-weights", "1,0"],
    ));
    assert_ok(&f.fast(
        &["a.png", "b.png"],
        "both.png",
        &["--style-blend-weights", "1,1"],
    ));
    let (a, b, both) = (
        read(f.path(), "a_only.png"),
        read(f.path(), "b_only.png"),
        read(f.path(), "both.png"),
    );
    assert!(
        read(f.path(), "a_by_weight.png") == a,
        "a weight of 0 drops a style"
    );
    assert!(both != a && both != b, "equal weights blend both");
    assert_refused(
        &f.fast(
            &["a.png", "b.png"],
            "x.png",
            &["--style-blend-weights", "1"],
        ),
        "style_blend_weights has 1 value(s) but 2 style image(s)",
    );
}

#[test]
fn preserve_colors_and_grey_photos() {
    let f = Fixture::new();
    for mode in ["luminance", "histogram"] {
        let name = format!("{mode}.png");
        assert_ok(&f.fast(&["a.png"], &name, &["--preserve-colors", mode]));
        assert_eq!(read(f.path(), &name).dimensions(), (64, 48));
    }
    // A greyscale photo is read as RGB and painted like any other.
    ImageBuffer::from_fn(50, 40, |x, y| Luma([(x * 5 + y * 3) as u8]))
        .save(f.path().join("grey.png"))
        .unwrap();
    let out = restyle(
        &[
            "grey.png", "a.png", "-o", "g.png", "--method", "fast", "-q", "-s", "50",
        ],
        f.path(),
    );
    assert_ok(&out);
    assert_eq!(read(f.path(), "g.png").dimensions(), (50, 40));
}

#[test]
fn bad_inputs_get_one_line_and_exit_2() {
    let f = Fixture::new();
    write_rgb(f.path(), "tiny.png", 1, 1, 3);
    ImageBuffer::from_pixel(64, 64, Rgb([128u8, 128, 128]))
        .save(f.path().join("flat.png"))
        .unwrap();
    assert_refused(&f.fast(&["tiny.png"], "x.png", &[]), "1x1");
    assert_refused(&f.fast(&["flat.png"], "x.png", &[]), "flat colour");
    assert_refused(
        &f.fast(
            &["a.png"],
            "x.png",
            &["--size", "30000", "--max-memory", "100M"],
        ),
        "needs about",
    );
    assert_refused(
        &f.fast(&["a.png"], "x.png", &["--strength", "1.5"]),
        "strength must be between 0 and 1, not 1.5",
    );
    assert_refused(
        &f.fast(&["a.png"], "x.png", &["--iterations", "5"]),
        "iterations applies to method gatys; method fast paints in one pass",
    );
    assert_refused(&f.fast(&["a.png"], "x.png", &["--size", "4"]), "at least 8");
    let gatys_strength = restyle(
        &["content.png", "a.png", "-o", "x.png", "--strength", "0.5"],
        f.path(),
    );
    assert_refused(
        &gatys_strength,
        "strength applies to method fast; for method gatys use style_weight",
    );
    // Nothing the user made is overwritten unasked.
    assert_ok(&f.fast(&["a.png"], "kept.png", &[]));
    assert_refused(&f.fast(&["a.png"], "kept.png", &[]), "kept.png");
    assert!(!f.path().join("x.png").exists());
}

#[test]
fn init_fast_starts_gatys_from_the_fast_picture() {
    let f = Fixture::new();
    let run = |init: &str, out: &str| {
        restyle(
            &[
                "content.png",
                "a.png",
                "-o",
                out,
                "-s",
                "32",
                "-n",
                "2",
                "-q",
                "--init",
                init,
            ],
            f.path(),
        )
    };
    assert_ok(&run("fast", "from_fast.png"));
    assert_ok(&run("content", "from_content.png"));
    let (a, b) = (
        read(f.path(), "from_fast.png"),
        read(f.path(), "from_content.png"),
    );
    assert_eq!(a.dimensions(), (32, 24));
    assert!(a != b, "the start matters after two steps");
}

#[test]
fn tile_paints_in_tiles_that_match_the_whole_picture() {
    let f = Fixture::new();
    write_rgb(f.path(), "photo.png", 256, 192, 4);
    let run = |out: &str, extra: &[&str]| {
        let mut args = vec!["photo.png", "a.png", "-o", out, "--method", "fast", "-q"];
        if !extra.contains(&"--size") {
            args.extend_from_slice(&["--size", "256"]);
        }
        args.extend_from_slice(extra);
        restyle(&args, f.path())
    };
    assert_ok(&run("whole.png", &[]));
    // 3 x 2 tiles of 160 px sharing 96; the picture fits whole, so the tiles are normalised
    // with its own statistics.
    let tiles = ["--tile", "--tile-size", "160", "--tile-overlap", "96"];
    assert_ok(&run("tiled.png", &tiles));
    let (whole, tiled) = (read(f.path(), "whole.png"), read(f.path(), "tiled.png"));
    assert_eq!(tiled.dimensions(), (256, 192));
    let d: Vec<u8> = whole
        .as_raw()
        .iter()
        .zip(tiled.as_raw())
        .map(|(a, b)| a.abs_diff(*b))
        .collect();
    let mean = d.iter().map(|&v| v as f64).sum::<f64>() / d.len() as f64;
    let largest = *d.iter().max().unwrap();
    // restyle-fast's tests measure 0.014 (3.6 levels) at most on a photo; allow 13 levels
    // (0.05) at most and a quarter level on average.
    assert!(
        largest <= 13 && mean < 0.25,
        "largest {largest}, mean {mean}"
    );
    // Too large even in tiles: said before starting; untiled, --tile is suggested.
    assert_refused(
        &run("x.png", &["--size", "30000", "--max-memory", "100M"]),
        "use tile",
    );
    let refused = run(
        "x.png",
        &["--size", "30000", "--max-memory", "100M", "--tile"],
    );
    assert_refused(&refused, "needs about");
    assert!(!f.path().join("x.png").exists());
}
