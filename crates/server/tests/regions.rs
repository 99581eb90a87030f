//! Regions through the API: a second painting and masks as uploads
//! (`style_2`, `mask_1`, `mask_2`, `keep`), checked like the other images.

use std::time::Duration;

use image::{ImageBuffer, Luma, Rgb};
use reqwest::multipart::Form;
use restyle_test_support::http::{file, small_job};
use restyle_test_support::{png, TestServer};
use serde_json::Value;

fn encode(img: impl Into<image::DynamicImage>) -> Vec<u8> {
    let mut bytes = Vec::new();
    img.into()
        .write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Png,
        )
        .unwrap();
    bytes
}

fn flat(rgb: [u8; 3]) -> Vec<u8> {
    encode(ImageBuffer::from_pixel(40, 40, Rgb(rgb)))
}

/// A 24x16 mask, white where `inside(x)`.
fn mask(inside: impl Fn(u32) -> bool) -> Vec<u8> {
    encode(ImageBuffer::from_fn(24, 16, |x, _| {
        Luma([if inside(x) { 255u8 } else { 0 }])
    }))
}

fn grey_photo() -> Vec<u8> {
    encode(ImageBuffer::from_fn(48, 32, |x, y| {
        let v = (128.0 + 30.0 * ((x + y) as f32 * 0.3).sin()) as u8;
        Rgb([v, v, v])
    }))
}

/// Waits for job `id` to end, expects it done, and returns its picture and the job.
async fn finished_picture(s: &TestServer, id: &str, timeout: Duration) -> (image::RgbImage, Value) {
    let job = s
        .wait_for(id, timeout, |j| {
            ["done", "failed"].contains(&j["state"].as_str().unwrap())
        })
        .await;
    assert_eq!(job["state"], "done", "{job}");
    let bytes = s
        .client
        .get(s.url(&format!("/api/jobs/{id}/result")))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    (image::load_from_memory(&bytes).unwrap().to_rgb8(), job)
}

#[tokio::test]
async fn two_paintings_each_in_its_region() {
    let s = TestServer::start(&[]).await;
    let form = Form::new()
        .part("content", file(grey_photo(), "photo.png"))
        .part("style", file(flat([217, 38, 25]), "red.png"))
        .part("style_2", file(flat([25, 64, 217]), "blue.png"))
        .part("mask_1", file(mask(|x| x < 12), "mask_1.png"))
        .part("mask_2", file(mask(|x| x >= 12), "mask_2.png"))
        .text("size", "48")
        .text("iterations", "30")
        .text("content_weight", "0.1");
    let id = s.submit_ok(form).await;
    let (img, job) = finished_picture(&s, &id, Duration::from_secs(300)).await;
    let mean = |xs: std::ops::Range<u32>| {
        let (mut r, mut b, mut n) = (0.0, 0.0, 0.0);
        for y in 0..img.height() {
            for x in xs.clone() {
                r += img.get_pixel(x, y)[0] as f64;
                b += img.get_pixel(x, y)[2] as f64;
                n += 1.0;
            }
        }
        (r / n, b / n)
    };
    let (left, right) = (mean(0..16), mean(32..48));
    assert!(left.0 > left.1 + 60.0, "left (red, blue) {left:?}");
    assert!(right.1 > right.0 + 60.0, "right (red, blue) {right:?}");
    // The job says what it was given, in the API and on its page.
    assert_eq!(
        job["settings"]["regions"],
        serde_json::json!({"second_style": true, "mask_1": true, "mask_2": true, "keep": false}),
        "{job}"
    );
    let page = s.job_page(&id).await;
    assert!(
        page.contains("<dt>Second painting</dt><dd>your upload</dd>"),
        "{page}"
    );
    assert!(
        page.contains("<dt>Painted regions</dt><dd>painting 1, painting 2</dd>"),
        "{page}"
    );
    s.stop().await;
}

#[tokio::test]
async fn the_job_page_names_a_shipped_second_painting_and_the_part_kept() {
    let s = TestServer::start(&[]).await;
    let with_regions = Form::new()
        .part("content", file(grey_photo(), "photo.png"))
        .text("style_preset", "starry_night")
        .text("style_preset_2", "the_scream")
        .part("keep", file(mask(|x| x < 6), "keep.png"))
        .text("size", "32")
        .text("iterations", "2");
    let id = s.submit_ok(with_regions).await;
    let job = s.job(&id).await;
    assert_eq!(
        job["settings"]["regions"],
        serde_json::json!({
            "second_style": true, "style_preset_2": "the_scream",
            "mask_1": false, "mask_2": false, "keep": true
        }),
        "{job}"
    );
    let page = s.job_page(&id).await;
    assert!(
        page.contains("<dt>Second painting</dt><dd>The Scream (Edvard Munch, 1893)</dd>"),
        "{page}"
    );
    assert!(
        page.contains("<dt>Painted regions</dt><dd>the photo kept</dd>"),
        "{page}"
    );

    // A job without regions shows none, and its settings have no `regions`.
    let plain = s.submit_ok(small_job(32, 2)).await;
    let job = s.job(&plain).await;
    assert!(job["settings"].get("regions").is_none(), "{job}");
    let page = s.job_page(&plain).await;
    assert!(!page.contains("Second painting") && !page.contains("Painted regions"));
    s.stop().await;
}

#[tokio::test]
async fn bad_region_uploads_are_refused() {
    let s = TestServer::start(&[]).await;
    let base = || {
        Form::new()
            .part("content", file(png(48, 36), "photo.png"))
            .part("style", file(png(40, 40), "painting.png"))
            .text("size", "32")
            .text("iterations", "2")
    };
    let cases: Vec<(Form, u16, &str)> = vec![
        (
            base().part("mask_2", file(mask(|x| x < 5), "m.png")),
            400,
            "`mask_2` says where the second painting goes",
        ),
        (
            base().part("keep", file(mask(|_| false), "k.png")),
            422,
            "`keep` is all black",
        ),
        (
            base().part("mask_1", file(b"not an image".to_vec(), "m.png")),
            415,
            "mask_1",
        ),
        (
            base()
                .part("style_2", file(png(40, 40), "p.png"))
                .text("style_preset_2", "starry-night"),
            400,
            "not both",
        ),
    ];
    for (form, status, needle) in cases {
        let r = s.submit(form).await;
        let code = r.status().as_u16();
        let body: Value = r.json().await.unwrap();
        let error = body["error"].as_str().unwrap_or_default().to_owned();
        assert!(
            code == status || (status == 415 && (400..500).contains(&code)),
            "{code} {body}"
        );
        assert!(error.contains(needle), "{error}");
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instant_job_blends_one_picture_per_painting_by_the_masks() {
    let s = TestServer::start(&[]).await;
    let result = |form: Form| async {
        let id = s
            .submit_ok(form.text("method", "fast").text("size", "48"))
            .await;
        finished_picture(&s, &id, Duration::from_secs(120)).await
    };
    let photo = || file(grey_photo(), "photo.png");
    let (starry, _) = result(
        Form::new()
            .part("content", photo())
            .text("style_preset", "starry_night"),
    )
    .await;
    let (scream, _) = result(
        Form::new()
            .part("content", photo())
            .text("style_preset", "the_scream"),
    )
    .await;
    let (both, job) = result(
        Form::new()
            .part("content", photo())
            .text("style_preset", "starry_night")
            .text("style_preset_2", "the_scream")
            .part("mask_1", file(mask(|x| x < 12), "mask_1.png"))
            .part("mask_2", file(mask(|x| x >= 12), "mask_2.png")),
    )
    .await;
    assert_eq!(job["settings"]["regions"]["mask_2"], true, "{job}");
    let page = s.job_page(job["id"].as_str().unwrap()).await;
    assert!(
        page.contains("<dt>Painted regions</dt><dd>painting 1, painting 2</dd>"),
        "{page}"
    );
    assert_eq!(both.dimensions(), (48, 32));
    let diff = |a: &image::RgbImage, b: &image::RgbImage, xs: std::ops::Range<u32>| {
        let mut sum = 0.0;
        for y in 0..32 {
            for x in xs.clone() {
                for c in 0..3 {
                    sum += (a.get_pixel(x, y)[c] as f64 - b.get_pixel(x, y)[c] as f64).abs();
                }
            }
        }
        sum / (32 * xs.len() * 3) as f64
    };
    // Away from the masks' soft middle, each half is that painting's picture.
    assert!(
        diff(&both, &starry, 0..20) < 1.5,
        "{}",
        diff(&both, &starry, 0..20)
    );
    assert!(
        diff(&both, &scream, 28..48) < 1.5,
        "{}",
        diff(&both, &scream, 28..48)
    );
    assert!(
        diff(&starry, &scream, 0..48) > 10.0,
        "the two paintings differ"
    );
    s.stop().await;
}
