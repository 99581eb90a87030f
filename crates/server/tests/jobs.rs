//! Jobs are checked before they are accepted (ranges, memory), can be
//! cancelled while their targets are measured, and keep no metadata; the
//! health check sees storage problems; the configuration cannot promise
//! what the workers refuse; a worker does not run a job larger than it allows.

use std::time::Duration;

use clap::Parser;
use reqwest::multipart::Form;
use restyle_test_support::http::{error_of, file, small_job};
use restyle_test_support::{png, TestServer};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_settings_are_refused_before_they_are_queued() {
    let s = TestServer::start(&["--workers", "0", "--max-job-memory", "2G"]).await;
    let cases: Vec<(&str, Form, u16, &str)> = vec![
        (
            "the issue's poison job",
            small_job(64, 5).text("style_scale", "1000"),
            422,
            "style_scale must be a number from 0.1 to 4, not 1000",
        ),
        (
            "a style scale that never ends",
            small_job(64, 5).text("style_scale", "1e30"),
            422,
            "style_scale must be a number from 0.1 to 4",
        ),
        (
            "no steps",
            small_job(64, 0),
            422,
            "iterations must be from 1 to 1000, not 0",
        ),
        (
            "a good job, for contrast",
            small_job(64, 5).text("seed", "7").text("tv_weight", "1"),
            201,
            "",
        ),
        (
            "a weight that is not finite",
            small_job(64, 5).text("tv_weight", "inf"),
            422,
            "tv_weight must be a number >= 0, not inf",
        ),
        (
            "a negative seed",
            small_job(64, 5).text("seed", "-1"),
            422,
            "seed must be a whole number",
        ),
    ];
    for (what, form, status, needle) in cases {
        let r = s.submit(form).await;
        if status == 201 {
            assert_eq!(r.status(), 201, "{what}");
            continue;
        }
        let (got, message) = error_of(r).await;
        assert_eq!(got, status, "{what}: {message}");
        assert!(
            message.contains(needle),
            "{what}: `{message}` should say `{needle}`"
        );
    }
    let form = Form::new()
        .part("content", file(png(48, 36), "photo.png"))
        .part("style", file(png(40, 40), "painting.png"))
        .text("iterations", "1e12");
    let (status, message) = error_of(s.submit(form).await).await;
    assert_eq!(status, 422, "{message}");
    assert!(
        message.contains("iterations must be a whole number, not `1e12`"),
        "{message}"
    );

    // Within every range, but beyond the memory this server gives a job:
    // refused with the size that fits, from the library's estimate.
    let tight = TestServer::start(&[
        "--workers",
        "0",
        "--max-job-memory",
        "700M",
        "--max-size",
        "2048",
    ])
    .await;
    let big = Form::new()
        .part("content", file(png(1200, 900), "photo.png"))
        .part("style", file(png(400, 400), "painting.png"))
        .text("size", "1200")
        .text("style_scale", "4");
    let (status, message) = error_of(tight.submit(big).await).await;
    assert_eq!(status, 422, "{message}");
    assert!(message.contains("picture needs about"), "{message}");
    assert!(message.contains("allows 700 MiB a job"), "{message}");
    let fits: usize = message
        .split("at most size ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("names the size that fits: {message}"));
    let smaller = Form::new()
        .part("content", file(png(1200, 900), "photo.png"))
        .part("style", file(png(400, 400), "painting.png"))
        .text("size", fits.to_string())
        .text("style_scale", "4");
    assert_eq!(
        tight.submit(smaller).await.status(),
        201,
        "size={fits} fits"
    );
    tight.stop().await;

    let health = s.health().await;
    assert_eq!(health["ok"], true, "{health}");
    assert_eq!(
        health["queued"], 1,
        "only the good job was queued: {health}"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_stops_a_job_while_its_style_targets_are_measured() {
    // A 256 px output with its style measured at 4x (1024 px): the targets
    // take a while, before the first step.
    let s = TestServer::start(&["--lease-seconds", "2"]).await;
    let form = Form::new()
        .part("content", file(png(64, 48), "photo.png"))
        .part("style", file(png(300, 300), "painting.png"))
        .text("size", "256")
        .text("style_scale", "4")
        .text("iterations", "50");
    let id = s.submit_ok(form).await;
    s.wait_for(&id, Duration::from_secs(60), |j| j["state"] == "running")
        .await;
    let r = s.cancel(&id).await;
    assert_eq!(r.status(), 200);
    let job = s
        .wait_for(&id, Duration::from_secs(120), |j| j["state"] == "cancelled")
        .await;
    assert_eq!(job["step"], 0, "stopped before its first step: {job}");
    s.stop().await;
}

/// A JPEG of `w` x `h` whose EXIF says: turn 90 degrees clockwise, taken at
/// latitude north (a GPS block).
fn jpeg_with_exif_gps(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([(x * 5) as u8, (y * 7) as u8, 90]));
    let mut plain = Vec::new();
    img.write_to(
        &mut std::io::Cursor::new(&mut plain),
        image::ImageFormat::Jpeg,
    )
    .unwrap();
    let mut tiff: Vec<u8> = b"II\x2a\x00\x08\x00\x00\x00".to_vec();
    // IFD0: orientation 6, and where the GPS block is (8 + 2 + 24 + 4 = 38).
    tiff.extend([2, 0]);
    tiff.extend([0x12, 0x01, 3, 0, 1, 0, 0, 0, 6, 0, 0, 0]);
    tiff.extend([0x25, 0x88, 4, 0, 1, 0, 0, 0, 38, 0, 0, 0]);
    tiff.extend([0, 0, 0, 0]);
    // The GPS block: GPSLatitudeRef = "N".
    tiff.extend([1, 0]);
    tiff.extend([1, 0, 2, 0, 2, 0, 0, 0, b'N', 0, 0, 0]);
    tiff.extend([0, 0, 0, 0]);
    let mut payload = b"Exif\0\0".to_vec();
    payload.extend(tiff);
    let mut out = plain[..2].to_vec(); // SOI
    out.extend([0xff, 0xe1]);
    out.extend(((payload.len() + 2) as u16).to_be_bytes());
    out.extend(payload);
    out.extend(&plain[2..]);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_and_results_keep_no_exif_or_gps_and_are_upright() {
    let photo = jpeg_with_exif_gps(48, 36);
    assert!(photo.windows(4).any(|w| w == b"Exif"));
    let s = TestServer::start(&["--keep-uploads"]).await;
    let form = Form::new()
        .part("content", file(photo.clone(), "photo.jpg"))
        .part("style", file(photo, "painting.jpg"))
        .text("size", "48")
        .text("iterations", "3");
    let (id, job) = s.submit_until_done(form, Duration::from_secs(120)).await;
    assert_eq!(
        (job["width"].as_u64(), job["height"].as_u64()),
        (Some(36), Some(48)),
        "turned upright"
    );
    for kind in ["content", "style", "result"] {
        let r = s.get(&format!("/api/jobs/{id}/{kind}")).await;
        assert_eq!(r.status(), 200, "{kind}");
        let bytes = r.bytes().await.unwrap();
        assert!(!bytes.windows(4).any(|w| w == b"Exif"), "{kind} has EXIF");
        assert!(
            !bytes.windows(2).any(|w| w == [0xff, 0xe1]),
            "{kind} has an APP1 segment"
        );
        let img = image::load_from_memory(&bytes).unwrap();
        assert_eq!((img.width(), img.height()), (36, 48), "{kind}");
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_reports_an_unwritable_image_store() {
    let s = TestServer::start(&["--workers", "0"]).await;
    let health = s.get("/api/health").await;
    assert_eq!(health.status(), 200);
    // A file where the images directory was: no write can succeed there,
    // whoever the tests run as.
    let images = s.data.path().join("images");
    std::fs::remove_dir_all(&images).unwrap();
    std::fs::write(&images, b"not a directory").unwrap();
    let health = s.get("/api/health").await;
    assert_eq!(health.status(), 503);
    let body: Value = health.json().await.unwrap();
    assert_eq!(body["ok"], false);
    let reason = body["error"].as_str().unwrap();
    assert!(
        reason.contains("images directory") && reason.contains("not writable"),
        "{reason}"
    );
    s.stop().await;
}

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    serve: restyle_server::ServeArgs,
}

#[tokio::test]
async fn more_megapixels_than_workers_decode_is_refused_at_start() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().to_str().unwrap();
    let args = [
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--data",
        dir,
        "--max-megapixels",
        "200",
    ];
    let error = match restyle_server::Server::start(Cli::parse_from(args).serve).await {
        Ok(_) => panic!("started with --max-megapixels 200"),
        Err(e) => e.to_string(),
    };
    assert!(
        error.contains("--max-megapixels 200 is more than workers decode (100 megapixels)"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_fails_a_job_larger_than_it_allows_with_the_reason() {
    // Accepted by a server without workers and with the machine's memory...
    let first = TestServer::start(&["--workers", "0"]).await;
    let id = first.submit_ok(small_job(64, 3)).await;
    // ...then taken by a worker that allows a job far less.
    let second = first
        .restart(&["--workers", "1", "--max-job-memory", "2M"])
        .await;
    let job = second
        .wait_for(&id, Duration::from_secs(120), |j| {
            j["state"] != "queued" && j["state"] != "running"
        })
        .await;
    assert_eq!(job["state"], "failed", "{job}");
    let error = job["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("this worker allows 2 MiB a job (--max-job-memory)"),
        "{error}"
    );
    assert_eq!(job["attempts"], 1, "{job}");

    // The same worker with enough memory runs a job like it.
    let third = second.restart(&["--workers", "1"]).await;
    let id = third.submit_ok(small_job(64, 3)).await;
    let job = third
        .wait_for(&id, Duration::from_secs(120), |j| {
            j["state"] != "queued" && j["state"] != "running"
        })
        .await;
    assert_eq!(job["state"], "done", "{job}");
    third.stop().await;
}
