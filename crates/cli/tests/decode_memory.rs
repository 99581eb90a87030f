//! An upload is judged by its header before its pixels are decoded: the
//! issue's 84 KB PNG of 16000x1800 pixels (0.9 GB once decoded), whose
//! output would be 64x7, is refused with the server's peak memory (VmHWM)
//! growing by less than 100 MB, four at once.

use std::time::Duration;

use restyle_test_support::process::{rss, Proc};

/// A flat 16000x1800 PNG: a few tens of kilobytes.
fn wide_png() -> Vec<u8> {
    let img = image::GrayImage::from_pixel(16_000, 1_800, image::Luma([120]));
    let mut bytes = Vec::new();
    img.write_to(
        &mut std::io::Cursor::new(&mut bytes),
        image::ImageFormat::Png,
    )
    .unwrap();
    bytes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_thin_png_is_refused_from_its_header() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (server, url) = Proc::serve(
        &[
            "--data",
            data.to_str().unwrap(),
            "--workers",
            "0",
            // Four at once from one address, each refused from its header.
            "--max-uploads-per-client",
            "4",
        ],
        &dir.path().join("serve.log"),
    );
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let health = client
        .get(format!("{url}/api/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let png = wide_png();
    assert!(png.len() < 200_000, "{} bytes", png.len());
    let before = rss(server.child.id()).1;
    let submit = || {
        let form = reqwest::multipart::Form::new()
            .part(
                "content",
                reqwest::multipart::Part::bytes(png.clone()).file_name("wide.png"),
            )
            .text("style_preset", "starry_night")
            .text("size", "64")
            .text("iterations", "5");
        client
            .post(format!("{url}/api/jobs"))
            .multipart(form)
            .send()
    };
    let (a, b, c, d) = tokio::join!(submit(), submit(), submit(), submit());
    for answer in [a, b, c, d] {
        let r = answer.unwrap();
        assert_eq!(r.status(), 422);
        let body: serde_json::Value = r.json().await.unwrap();
        let message = body["error"].as_str().unwrap();
        assert!(message.contains("64x7"), "{message}");
    }
    let grown = rss(server.child.id()).1.saturating_sub(before);
    println!(
        "peak RSS grew by {:.1} MB for four refusals",
        grown as f64 / 1e6
    );
    assert!(
        grown < 100_000_000,
        "peak RSS grew by {grown} bytes: decoded?"
    );
}
