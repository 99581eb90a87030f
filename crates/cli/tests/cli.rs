//! The real `restyle` binary, driven end to end on small images.

use std::path::{Path, PathBuf};
use std::process::Output;

use image::{ImageBuffer, Luma, LumaA, Rgb, Rgba};
use restyle_test_support::cli::{assert_refused, restyle, stderr};
use restyle_test_support::require_or_skip;

/// A smooth, colourful test picture.
fn write_rgb(dir: &Path, name: &str, w: u32, h: u32) -> PathBuf {
    let img = ImageBuffer::from_fn(w, h, |x, y| {
        Rgb([
            (x * 255 / w) as u8,
            (y * 255 / h) as u8,
            ((x + y) * 97 % 256) as u8,
        ])
    });
    let path = dir.join(name);
    img.save(&path).unwrap();
    path
}

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        write_rgb(dir.path(), "content.png", 48, 36);
        write_rgb(dir.path(), "style.png", 40, 40);
        Self { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn run(&self, args: &[&str]) -> Output {
        restyle(args, self.path())
    }
}

const SMALL: [&str; 4] = ["-s", "32", "-n", "3"];

fn transfer(f: &Fixture, extra: &[&str]) -> Output {
    let mut args = vec!["content.png", "style.png", "-o", "out.png"];
    args.extend_from_slice(&SMALL);
    args.extend_from_slice(extra);
    f.run(&args)
}

#[test]
fn a_transfer_writes_an_image_of_the_asked_size() {
    let f = Fixture::new();
    let out = transfer(&f, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let img = image::open(f.path().join("out.png")).unwrap();
    assert_eq!((img.width(), img.height()), (32, 24));
    assert!(
        stderr(&out).contains("wrote out.png (32x24"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn json_reports_every_step_then_done() {
    let f = Fixture::new();
    let out = transfer(&f, &["--json", "--optimizer", "adam"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let events: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), 4);
    for (i, e) in events[..3].iter().enumerate() {
        assert_eq!(e["event"], "step");
        assert_eq!(e["step"], i + 1);
        assert_eq!(e["total"], 3);
        assert!(e["loss"].as_f64().unwrap() > 0.0);
    }
    assert_eq!(events[3]["event"], "done");
    assert_eq!(events[3]["path"], "out.png");
}

#[test]
fn save_every_writes_numbered_intermediates() {
    let f = Fixture::new();
    let out = f.run(&[
        "content.png",
        "style.png",
        "-o",
        "out.jpg",
        "-s",
        "32",
        "-n",
        "5",
        "--save-every",
        "2",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    for name in ["out_0002.jpg", "out_0004.jpg", "out.jpg"] {
        assert!(image::open(f.path().join(name)).is_ok(), "{name}");
    }
    assert!(!f.path().join("out_0005.jpg").exists());
}

#[test]
fn equal_seeds_give_identical_results() {
    let f = Fixture::new();
    for name in ["a.png", "b.png"] {
        let mut args = vec![
            "content.png",
            "style.png",
            "-o",
            name,
            "--init",
            "noise",
            "--seed",
            "7",
        ];
        args.extend_from_slice(&SMALL);
        assert!(f.run(&args).status.success());
    }
    let a = std::fs::read(f.path().join("a.png")).unwrap();
    let b = std::fs::read(f.path().join("b.png")).unwrap();
    assert_eq!(a, b);
}

#[test]
fn existing_outputs_are_kept_unless_overwrite_is_asked() {
    let f = Fixture::new();
    std::fs::write(f.path().join("out.png"), b"precious").unwrap();
    assert_refused(&transfer(&f, &[]), "already exists");
    assert_eq!(
        std::fs::read(f.path().join("out.png")).unwrap(),
        b"precious"
    );
    assert!(transfer(&f, &["-y"]).status.success());
    assert!(image::open(f.path().join("out.png")).is_ok());
}

#[test]
fn an_input_is_never_overwritten() {
    let f = Fixture::new();
    let before = std::fs::read(f.path().join("style.png")).unwrap();
    let mut args = vec!["content.png", "style.png", "-o", "./style.png", "-y"];
    args.extend_from_slice(&SMALL);
    assert_refused(&f.run(&args), "it is one of the inputs");
    assert_eq!(std::fs::read(f.path().join("style.png")).unwrap(), before);
}

#[test]
fn intermediates_that_would_overwrite_are_refused_before_work() {
    let f = Fixture::new();
    std::fs::write(f.path().join("out_0002.png"), b"keep").unwrap();
    assert_refused(
        &transfer(&f, &["--save-every", "2"]),
        "out_0002.png already exists",
    );
    assert!(!f.path().join("out.png").exists());
}

#[test]
fn inputs_of_every_kind_are_accepted() {
    let f = Fixture::new();
    let (w, h) = (40, 30);
    ImageBuffer::from_fn(w, h, |x, _| Luma([(x * 6) as u8]))
        .save(f.path().join("grey.png"))
        .unwrap();
    ImageBuffer::from_fn(w, h, |x, y| LumaA([(x * 6) as u8, (y * 8) as u8]))
        .save(f.path().join("grey_alpha.png"))
        .unwrap();
    ImageBuffer::from_fn(w, h, |x, y| Rgba([200, (x * 6) as u8, 30, (y * 8) as u8]))
        .save(f.path().join("rgba.png"))
        .unwrap();
    ImageBuffer::from_fn(w, h, |x, y| {
        Rgb([(x * 1600) as u16, (y * 2000) as u16, 40000u16])
    })
    .save(f.path().join("deep.png"))
    .unwrap();
    write_rgb(f.path(), "photo.jpg", w, h);
    for input in [
        "grey.png",
        "grey_alpha.png",
        "rgba.png",
        "deep.png",
        "photo.jpg",
    ] {
        let mut args = vec![input, input, "-o", "out.png", "-y"];
        args.extend_from_slice(&SMALL);
        let out = f.run(&args);
        assert!(out.status.success(), "{input}: {}", stderr(&out));
        let img = image::open(f.path().join("out.png")).unwrap();
        assert_eq!((img.width(), img.height()), (32, 24), "{input}");
    }
}

/// A JPEG with an EXIF APP1 segment saying "rotate 90 degrees clockwise".
fn jpeg_with_orientation_6(path: &Path, w: u32, h: u32) {
    let mut plain = Vec::new();
    let img = ImageBuffer::from_fn(w, h, |x, _| Rgb([(x * 4) as u8, 100, 50]));
    image::DynamicImage::ImageRgb8(img)
        .write_to(
            &mut std::io::Cursor::new(&mut plain),
            image::ImageFormat::Jpeg,
        )
        .unwrap();
    // TIFF header (little endian), one IFD entry: tag 0x0112 (orientation), SHORT, 1, value 6.
    let mut tiff = b"II*\0\x08\0\0\0".to_vec();
    tiff.extend_from_slice(&[1, 0, 0x12, 0x01, 3, 0, 1, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0]);
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend_from_slice(&tiff);
    let len = (app1.len() + 2) as u16;
    let mut out = plain[..2].to_vec(); // SOI
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&app1);
    out.extend_from_slice(&plain[2..]);
    std::fs::write(path, out).unwrap();
}

#[test]
fn exif_orientation_is_respected() {
    let f = Fixture::new();
    jpeg_with_orientation_6(&f.path().join("portrait.jpg"), 48, 32);
    let mut args = vec!["portrait.jpg", "style.png", "-o", "out.png"];
    args.extend_from_slice(&SMALL);
    let out = f.run(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    let img = image::open(f.path().join("out.png")).unwrap();
    assert_eq!(
        (img.width(), img.height()),
        (21, 32),
        "turned upright: taller than wide"
    );
}

#[test]
fn reconstruct_writes_a_labelled_grid() {
    let f = Fixture::new();
    let out = f.run(&[
        "reconstruct",
        "content.png",
        "style.png",
        "-o",
        "grid.png",
        "-s",
        "32",
        "-n",
        "2",
        "--layers",
        "1,2",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let grid = image::open(f.path().join("grid.png")).unwrap();
    // Two rows of three 32x24 cells (the original and two blocks), with margins and labels.
    assert!(
        grid.width() > 3 * 32 && grid.height() > 2 * 24,
        "{}x{}",
        grid.width(),
        grid.height()
    );
}

// Bad input: one line, exit code 2, never a panic.

#[test]
fn a_missing_file_is_named() {
    let f = Fixture::new();
    let out = f.run(&["nope.png", "style.png", "-o", "out.png"]);
    assert_refused(&out, "nope.png");
}

#[test]
fn a_truncated_image_is_refused() {
    let f = Fixture::new();
    let bytes = std::fs::read(f.path().join("content.png")).unwrap();
    std::fs::write(f.path().join("cut.png"), &bytes[..bytes.len() / 2]).unwrap();
    let mut args = vec!["cut.png", "style.png", "-o", "out.png"];
    args.extend_from_slice(&SMALL);
    assert_refused(&f.run(&args), "cut.png");
}

#[test]
fn a_text_file_named_png_is_refused() {
    let f = Fixture::new();
    std::fs::write(f.path().join("notes.png"), "just some text\n").unwrap();
    assert_refused(
        &f.run(&["content.png", "notes.png", "-o", "out.png"]),
        "not an image",
    );
}

/// A PNG whose header claims `w x h` pixels but whose data is a few bytes,
/// like a decompression bomb's.
fn png_header_only(w: u32, h: u32) -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut header = w.to_be_bytes().to_vec();
    header.extend_from_slice(&h.to_be_bytes());
    header.extend_from_slice(&[8, 2, 0, 0, 0]);
    for (kind, data) in [
        (b"IHDR", header),
        (b"IDAT", vec![0x78, 0x9c, 0x03, 0, 0, 0, 0, 1]),
        (b"IEND", vec![]),
    ] {
        let mut chunk = kind.to_vec();
        chunk.extend_from_slice(&data);
        png.extend_from_slice(&(data.len() as u32).to_be_bytes());
        png.extend_from_slice(&chunk);
        png.extend_from_slice(&crc32(&chunk).to_be_bytes());
    }
    png
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
fn a_decompression_bomb_is_refused_before_decoding() {
    let f = Fixture::new();
    std::fs::write(f.path().join("bomb.png"), png_header_only(100_000, 100_000)).unwrap();
    assert_refused(
        &f.run(&["bomb.png", "style.png", "-o", "out.png"]),
        "larger than restyle accepts",
    );
}

#[test]
fn a_zero_size_image_is_refused() {
    let f = Fixture::new();
    std::fs::write(f.path().join("empty.png"), png_header_only(0, 10)).unwrap();
    assert_refused(
        &f.run(&["empty.png", "style.png", "-o", "out.png"]),
        "empty.png",
    );
}

#[test]
fn impossible_values_are_refused() {
    let f = Fixture::new();
    let cases: &[(&[&str], &str)] = &[
        (
            &["--style-weight", "-5"],
            "style_weight must be a number >= 0",
        ),
        (
            &["--content-weight", "nan"],
            "content_weight must be a number >= 0",
        ),
        (&["--tv-weight", "-1"], "tv_weight must be a number >= 0"),
        (&["--size", "-3"], "size must be at least 1"),
        (&["--size", "0"], "size must be at least 1"),
        (&["--size", "8"], "need at least 16"),
        (&["--iterations", "-1"], "iterations must be at least 0"),
        (&["--save-every", "0"], "save_every must be at least 1"),
        (&["--style-scale", "0"], "style_scale must be a number > 0"),
        (
            &["--learning-rate", "-0.1"],
            "learning rate must be a number > 0",
        ),
        (&["--style-layers", "relu6_1"], "unknown layer `relu6_1`"),
        (&["--content-layers", "conv4_2:-1"], "must be a number >= 0"),
        (
            &["--style-blend-weights", "1,2"],
            "style_blend_weights has 2 value(s) but 1 style image(s)",
        ),
        (
            &["--style-blend-weights", "-1"],
            "style_blend_weights must be numbers >= 0",
        ),
        (&["--threads", "0"], "threads must be at least 1"),
        (&["--init", "missing.png"], "missing.png"),
    ];
    for (extra, needle) in cases {
        let mut args = vec!["content.png", "style.png", "-o", "out.png"];
        args.extend_from_slice(extra);
        assert_refused(&f.run(&args), needle);
        assert!(!f.path().join("out.png").exists());
    }
}

#[test]
fn unknown_output_types_are_refused_before_work() {
    let f = Fixture::new();
    assert_refused(
        &f.run(&["content.png", "style.png", "-o", "out.bmp"]),
        "use a .png, .jpg or .jpeg name",
    );
    assert_refused(
        &f.run(&["content.png", "style.png", "-o", "no/such/dir/out.png"]),
        "does not exist",
    );
}

#[test]
fn a_weights_file_that_is_not_vgg19_is_refused() {
    let f = Fixture::new();
    std::fs::write(f.path().join("weights.bin"), vec![7u8; 4096]).unwrap();
    let mut args = vec![
        "content.png",
        "style.png",
        "-o",
        "out.png",
        "--weights",
        "weights.bin",
    ];
    args.extend_from_slice(&SMALL);
    assert_refused(&f.run(&args), "not a weights file restyle can read");
    let mut args = vec![
        "content.png",
        "style.png",
        "-o",
        "out.png",
        "--weights",
        "missing.safetensors",
    ];
    args.extend_from_slice(&SMALL);
    assert_refused(&f.run(&args), "missing.safetensors");
}

/// The small torchvision-format fixtures restyle-vgg's tests use (written by
/// torch itself; see tools/make_torchvision_fixtures.py).
fn torch_fixture(name: &str) -> String {
    format!(
        "{}/../vgg/tests/fixtures/torchvision/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

#[test]
fn torchvision_weights_are_read_and_other_networks_refused() {
    let f = Fixture::new();
    // A whole run needs a real network: the small fixtures' constant weights
    // overflow. tools/make_torchvision_fixtures.py --full writes one that
    // torchvision's vgg19() initialised (CI does).
    match std::env::var_os("RESTYLE_TORCHVISION_FIXTURES") {
        Some(dir) => {
            let vgg19 = std::path::Path::new(&dir).join("vgg19-random.pth");
            let vgg19 = vgg19.to_str().unwrap();
            let mut args = vec![
                "content.png",
                "style.png",
                "-o",
                "out.png",
                "--weights",
                vgg19,
            ];
            args.extend_from_slice(&SMALL);
            let out = f.run(&args);
            assert!(out.status.success(), "{}", stderr(&out));
            assert!(image::open(f.path().join("out.png")).is_ok());
        }
        None => {
            require_or_skip(
                "a run on torchvision weights",
                "RESTYLE_TORCHVISION_FIXTURES is not set",
            );
        }
    }
    let vgg16 = torch_fixture("vgg16.pth");
    let mut args = vec![
        "content.png",
        "style.png",
        "-o",
        "out2.png",
        "--weights",
        &vgg16,
    ];
    args.extend_from_slice(&SMALL);
    assert_refused(&f.run(&args), "looks like a VGG-16");
    assert!(!f.path().join("out2.png").exists());
}

#[test]
fn usage_errors_exit_with_2() {
    let f = Fixture::new();
    let out = f.run(&["content.png"]);
    assert_eq!(out.status.code(), Some(2));
    let out = f.run(&[
        "content.png",
        "style.png",
        "-o",
        "out.png",
        "--optimizer",
        "sgd",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("sgd"));
}

// Memory: estimated before work, and checked against what is measured.

fn done_event(out: &Output) -> serde_json::Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.lines().last().expect("events")).unwrap()
}

#[test]
fn the_memory_estimate_is_within_15_percent_of_the_measured_peak() {
    let dir = tempfile::tempdir().unwrap();
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/images");
    for size in ["256", "512"] {
        // A short history fills at once, so a few steps reach the run's peak.
        let out = restyle(
            &[
                examples.join("content/chelsea.png").to_str().unwrap(),
                examples.join("style/starry_night.jpg").to_str().unwrap(),
                "-o",
                "out.png",
                "-s",
                size,
                "-n",
                "4",
                "--lbfgs-history",
                "2",
                "--json",
                "-y",
            ],
            dir.path(),
        );
        assert!(out.status.success(), "{}", stderr(&out));
        let done = done_event(&out);
        let (measured, estimated) = (
            done["peak_rss_bytes"].as_f64().unwrap(),
            done["estimated_peak_bytes"].as_f64().unwrap(),
        );
        let ratio = estimated / measured;
        assert!(
            (0.85..1.15).contains(&ratio),
            "{size} px: estimated {estimated}, measured {measured}"
        );
    }
}

#[test]
fn a_run_that_cannot_fit_is_refused_before_work_with_the_size_that_fits() {
    let f = Fixture::new();
    let out = f.run(&[
        "content.png",
        "style.png",
        "-o",
        "out.png",
        "-s",
        "3000",
        "--max-memory",
        "900M",
        "--json",
    ]);
    assert_refused(&out, "at most");
    assert!(stderr(&out).contains("use tile"), "{}", stderr(&out));
    assert!(out.stdout.is_empty(), "no step ran");
    assert!(!f.path().join("out.png").exists());
    assert_refused(
        &f.run(&[
            "content.png",
            "style.png",
            "-o",
            "out.png",
            "--max-memory",
            "lots",
        ]),
        "not a size",
    );
}

#[test]
fn tiles_render_a_picture_of_the_full_size() {
    let f = Fixture::new();
    let out = f.run(&[
        "content.png",
        "style.png",
        "-o",
        "out.png",
        "-s",
        "128",
        "-n",
        "2",
        "--tile",
        "--tile-size",
        "64",
        "--tile-overlap",
        "16",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let img = image::open(f.path().join("out.png")).unwrap();
    assert_eq!((img.width(), img.height()), (128, 96));
    let done = done_event(&out);
    assert!(
        done["steps"].as_u64().unwrap() > 2,
        "several tiles ran: {done}"
    );
}
