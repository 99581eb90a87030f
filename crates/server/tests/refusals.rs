//! What is refused at once instead of accepted and failed later, or
//! answered badly: jobs that cannot run (a painting resized below the
//! deepest layer, a flat second painting for the fast method), unknown
//! empty fields, request targets and headers over the limits (JSON bodies),
//! small disk budgets' messages, truncated JPEGs, and wrong tokens.

use restyle_test_support::http::{client_with_key, error_body, file, small_fast_job, small_job};
use restyle_test_support::{png, TestServer};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_that_cannot_run_are_refused_at_submission() {
    let s = TestServer::start(&["--workers", "0"]).await;
    // The painting at a tenth of a 32 px picture: 3x3 pixels.
    let (status, body) =
        error_body(s.submit(small_job(32, 5).text("style_scale", "0.1")).await).await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("style_scale"),
        "{body}"
    );
    // A flat second painting for the fast method, named as such.
    let flat = image::RgbImage::from_pixel(64, 64, image::Rgb([90, 90, 90]));
    let mut bytes = Vec::new();
    flat.write_to(
        &mut std::io::Cursor::new(&mut bytes),
        image::ImageFormat::Png,
    )
    .unwrap();
    let form = small_fast_job(32)
        .part("style_2", file(bytes, "flat.png"))
        .part("mask_1", file(png(48, 36), "mask.png"));
    let (status, body) = error_body(s.submit(form).await).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(
        body["error"], "style image 2 is one flat colour: it has no style to transfer",
        "{body}"
    );
    // A too-small second painting, too.
    let form = small_fast_job(32).part("style_2", file(png(16, 16), "small.png"));
    let (status, body) = error_body(s.submit(form).await).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(
        body["error"], "style image 2 is 16x16: the fast method needs at least 32x32 pixels",
        "{body}"
    );
    // Nothing was queued.
    let health: Value = s
        .client
        .get(s.url("/api/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["queued"], 0, "{health}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_fields_are_refused_even_empty() {
    let s = TestServer::start(&["--workers", "0"]).await;
    let mut form = small_job(32, 5);
    for i in 0..10 {
        form = form.text(format!("junk{i}"), "");
    }
    let (status, body) = error_body(s.submit(form).await).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("junk0"), "{body}");
    s.stop().await;
}

/// Sends `request` raw and reads the answer until the server closes.
async fn raw(s: &TestServer, request: &[u8]) -> String {
    let address = s.url.trim_start_matches("http://");
    let mut c = tokio::net::TcpStream::connect(address).await.unwrap();
    c.write_all(request).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), c.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_targets_and_headers_get_a_json_body() {
    let s = TestServer::start(&["--workers", "0"]).await;
    let long = format!(
        "GET /api/health?x={} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        "a".repeat(20_000)
    );
    let answer = raw(&s, long.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 414"), "{answer}");
    assert!(answer.contains("{\"error\":"), "{answer}");
    let mut many = String::from("GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    for i in 0..150 {
        many.push_str(&format!("X-Filler-{i}: 1\r\n"));
    }
    many.push_str("\r\n");
    let answer = raw(&s, many.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
    assert!(answer.contains("{\"error\":"), "{answer}");
    let big = format!(
        "GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: {}\r\n\r\n",
        "b".repeat(40_000)
    );
    let answer = raw(&s, big.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
    assert!(answer.contains("{\"error\":"), "{answer}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_disk_budget_is_named_in_kilobytes() {
    let s = TestServer::start(&[
        "--workers",
        "0",
        "--max-disk",
        "2K",
        "--max-disk-share",
        "1",
    ])
    .await;
    let (status, body) = error_body(s.submit(small_job(32, 5)).await).await;
    assert_eq!(status, 507, "{body}");
    let message = body["error"].as_str().unwrap();
    assert!(
        message.contains("of 2 KiB") && !message.contains("0 MiB"),
        "{message}"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_jpeg_is_refused() {
    let s = TestServer::start(&["--workers", "0"]).await;
    let photo = image::RgbImage::from_fn(400, 300, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, ((x * y) % 256) as u8])
    });
    let mut jpeg = Vec::new();
    photo
        .write_to(
            &mut std::io::Cursor::new(&mut jpeg),
            image::ImageFormat::Jpeg,
        )
        .unwrap();
    jpeg.truncate(jpeg.len() / 3);
    let form = reqwest::multipart::Form::new()
        .part("content", file(jpeg, "cut.jpg"))
        .part("style", file(png(40, 40), "painting.png"))
        .text("size", "32");
    let (status, body) = error_body(s.submit(form).await).await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("content"),
        "{body}"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_tokens_are_counted_by_address() {
    let s = TestServer::start(&["--workers", "0", "--token", "the-right-one"]).await;
    let mut statuses = Vec::new();
    for i in 0..12 {
        let r = s
            .client
            .get(s.url("/api/health"))
            .bearer_auth(format!("guess-{i}"))
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
        if r.status() == 429 {
            assert!(r.headers().contains_key("retry-after"));
            let (_, body) = error_body(r).await;
            assert_eq!(body["limit"], "failed_tokens_per_minute", "{body}");
        }
    }
    assert_eq!(&statuses[..10], &[401; 10]);
    assert_eq!(&statuses[10..], &[429, 429]);
    // The right token still works.
    let r = s
        .client
        .get(s.url("/api/health"))
        .bearer_auth("the-right-one")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_keys_the_server_issued_are_accepted() {
    let s = TestServer::start(&["--workers", "0"]).await;
    let id = s.submit_ok(small_job(32, 5)).await;
    for chosen in ["0000000000000000", &"0".repeat(64)] {
        let r = client_with_key(Some(chosen))
            .get(s.url("/api/jobs"))
            .send()
            .await
            .unwrap();
        let (status, body) = error_body(r).await;
        assert_eq!(status, 400, "{chosen}: {body}");
    }
    // The issued key sees its job.
    let r = s
        .client
        .get(s.url(&format!("/api/jobs/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    s.stop().await;
}
