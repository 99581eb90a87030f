//! The JSON API end to end, on a real server on loopback, with tiny images.

use std::time::{Duration, Instant};

use reqwest::multipart::Form;
use restyle_test_support::http::{error_of, file, read_events, small_job};
use restyle_test_support::{png, TestServer};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_streams_progress_then_its_result_can_be_downloaded_and_deleted() {
    // The uploads of a finished job are kept only when asked for.
    let s = TestServer::start(&["--keep-uploads"]).await;
    let id = s.submit_ok(small_job(48, 8)).await;
    assert_eq!(id.len(), 32);

    let events = read_events(
        &s.client,
        &s.url(&format!("/api/jobs/{id}/events")),
        Duration::from_secs(120),
    )
    .await;
    let jobs: Vec<&Value> = events
        .iter()
        .filter(|(n, _)| n == "job")
        .map(|(_, j)| j)
        .collect();
    let states: Vec<&str> = jobs.iter().map(|j| j["state"].as_str().unwrap()).collect();
    assert_eq!(states.last(), Some(&"done"), "{states:?}");
    let running: Vec<&&Value> = jobs
        .iter()
        .filter(|j| j["state"] == "running" && j["step"].as_u64() > Some(0))
        .collect();
    assert!(
        !running.is_empty(),
        "progress events with a step: {states:?}"
    );
    assert!(
        running
            .iter()
            .any(|j| j["preview_url"].is_string() && j["eta_seconds"].is_number()),
        "{running:?}"
    );
    let steps: Vec<u64> = jobs.iter().map(|j| j["step"].as_u64().unwrap()).collect();
    assert!(
        steps.windows(2).all(|w| w[0] <= w[1]),
        "steps only grow: {steps:?}"
    );

    let done = s.job(&id).await;
    assert_eq!(done["state"], "done");
    assert_eq!(
        (done["width"].as_u64(), done["height"].as_u64()),
        (Some(48), Some(36))
    );
    assert_eq!(done["step"], 8);
    assert_eq!(done["settings"]["iterations"], 8);
    let result = s.get(done["result_url"].as_str().unwrap()).await;
    assert_eq!(result.status(), 200);
    assert_eq!(result.headers()["content-type"], "image/png");
    let img = image::load_from_memory(&result.bytes().await.unwrap()).expect("a valid PNG");
    assert_eq!((img.width(), img.height()), (48, 36));
    let download = s.get(&format!("/api/jobs/{id}/result?download=1")).await;
    assert!(download.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment"));
    for kind in ["content", "style"] {
        let r = s.get(&format!("/api/jobs/{id}/{kind}")).await;
        assert_eq!(r.status(), 200, "{kind}");
        assert_eq!(r.headers()["content-type"], "image/png");
    }

    let list = s.jobs().await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["id"], id.as_str());

    assert!(s.job_page(&id).await.contains("Download"));

    let deleted = s.delete(&format!("/api/jobs/{id}")).await;
    assert_eq!(deleted.status(), 204);
    let (status, _) = error_of(s.get(&format!("/api/jobs/{id}")).await).await;
    assert_eq!(status, 404);
    let (status, _) = error_of(s.get(&format!("/api/jobs/{id}/result")).await).await;
    assert_eq!(status, 404);
    assert!(
        !s.data.path().join("images").join(&id).exists(),
        "the images went with the job"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shipped_style_and_the_settings_are_used() {
    let s = TestServer::start(&[]).await;
    let styles = s.get_json("/api/styles").await;
    let names: Vec<&str> = styles["styles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["starry_night", "the_scream", "woman-with-hat-matisse"]
    );
    let thumb = s.get("/assets/styles/the_scream-thumb.jpg").await;
    assert_eq!(thumb.headers()["content-type"], "image/jpeg");

    let form = Form::new()
        .part("content", file(png(48, 36), "photo.png"))
        .text("style_preset", "the_scream")
        .text("size", "32")
        .text("iterations", "2")
        .text("style_weight", "30")
        .text("preserve_colors", "luminance")
        .text("seed", "7");
    let (_, job) = s.submit_until_done(form, Duration::from_secs(120)).await;
    let settings = &job["settings"];
    assert_eq!(settings["style_preset"], "the_scream");
    assert_eq!(settings["style_weight"], 30.0);
    assert_eq!(settings["preserve_colors"], "luminance");
    assert_eq!(settings["seed"], 7);
    assert_eq!(
        (job["width"].as_u64(), job["height"].as_u64()),
        (Some(32), Some(24))
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_and_running_jobs_can_be_cancelled() {
    let s = TestServer::start(&[]).await;
    let long = s.submit_ok(small_job(48, 1000)).await;
    let queued = s.submit_ok(small_job(48, 5)).await;
    s.wait_for(&long, Duration::from_secs(60), |j| {
        j["state"] == "running" && j["step"].as_u64() > Some(0)
    })
    .await;
    let q = s.job(&queued).await;
    assert_eq!(
        (q["state"].as_str(), q["position"].as_u64()),
        (Some("queued"), Some(0))
    );

    let r = s.cancel(&queued).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["state"], "cancelled");

    let started = Instant::now();
    let r = s.cancel(&long).await;
    assert_eq!(r.status(), 200);
    let job = s
        .wait_for(&long, Duration::from_secs(30), |j| {
            j["state"] == "cancelled"
        })
        .await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "stopped after the current step"
    );
    assert!(job["step"].as_u64().unwrap() < 1000);

    let (status, message) = error_of(s.cancel(&long).await).await;
    assert_eq!(status, 409);
    assert!(message.contains("already cancelled"), "{message}");
    let (status, message) = error_of(s.get(&format!("/api/jobs/{long}/result")).await).await;
    assert_eq!(status, 409, "{message}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_uploads_are_refused_with_a_clear_status() {
    // No workers: nothing runs, only the checks.
    let s = TestServer::start(&[
        "--workers",
        "0",
        "--max-upload-mb",
        "1",
        "--max-megapixels",
        "0.01",
        "--max-size",
        "256",
    ])
    .await;
    let style = || file(png(40, 40), "painting.png");
    let cases: Vec<(&str, Form, u16, &str)> = vec![
        (
            "a text file named .png",
            Form::new()
                .part(
                    "content",
                    file(b"just some words, not a picture\n".to_vec(), "photo.png"),
                )
                .part("style", style()),
            415,
            "not an image",
        ),
        (
            "a truncated PNG",
            Form::new()
                .part("content", file(png(48, 36)[..200].to_vec(), "photo.png"))
                .part("style", style())
                // Settings are checked first, from the header alone.
                .text("size", "48"),
            422,
            "truncated or corrupt",
        ),
        (
            "too many pixels",
            Form::new()
                .part("content", file(png(200, 100), "photo.png"))
                .part("style", style()),
            413,
            "this server accepts at most 0.0 megapixels",
        ),
        (
            "too many bytes",
            Form::new()
                .part("content", file(vec![0x89; 2 << 20], "photo.png"))
                .part("style", style()),
            413,
            "too large",
        ),
        (
            "a wrong field",
            Form::new()
                .part("image", file(png(48, 36), "photo.png"))
                .part("style", style()),
            400,
            "unknown field `image`",
        ),
        (
            "no content",
            Form::new().part("style", style()),
            400,
            "`content` image file is missing",
        ),
        (
            "no style",
            Form::new().part("content", file(png(48, 36), "photo.png")),
            400,
            "`style` image file",
        ),
        (
            "an unknown shipped style",
            Form::new()
                .part("content", file(png(48, 36), "p.png"))
                .text("style_preset", "mona_lisa"),
            400,
            "no shipped style",
        ),
        (
            "a size that is not a number",
            small_job(48, 5).text("seed", "lots"),
            400,
            "seed must be a whole number",
        ),
        (
            "a size over the limit",
            small_job(512, 5),
            422,
            "size must be from 16 to 256, not 512",
        ),
        (
            "iterations over the limit",
            small_job(48, 5000),
            422,
            "iterations must be from 1 to 1000, not 5000",
        ),
        (
            "a negative weight",
            small_job(48, 5).text("style_weight", "-1"),
            422,
            "style_weight must be a number >= 0, not -1",
        ),
        (
            "an output too small for VGG",
            small_job(8, 5),
            422,
            "from 16",
        ),
        (
            "a field twice",
            small_job(48, 5).text("size", "48"),
            400,
            "given twice",
        ),
    ];
    for (what, form, status, needle) in cases {
        let (got, message) = error_of(s.submit(form).await).await;
        assert_eq!(got, status, "{what}: {message}");
        assert!(
            message.contains(needle),
            "{what}: `{message}` should say `{needle}`"
        );
    }
    assert_eq!(s.jobs().await.len(), 0, "nothing was queued");
    let leftovers = std::fs::read_dir(s.data.path().join("images"))
        .unwrap()
        .count();
    assert_eq!(leftovers, 0, "no images were kept");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_refuses_with_503_and_retry_after() {
    let s = TestServer::start(&["--workers", "0", "--max-queue", "2"]).await;
    s.submit_ok(small_job(48, 5)).await;
    s.submit_ok(small_job(48, 5)).await;
    let r = s.submit(small_job(48, 5)).await;
    assert_eq!(r.headers()["retry-after"], "30");
    let (status, message) = error_of(r).await;
    assert_eq!(status, 503);
    assert!(message.contains("queue is full"), "{message}");
    let health = s.health().await;
    assert_eq!(health["queued"], 2);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_are_checked_before_they_reach_storage() {
    let s = TestServer::start(&["--workers", "0"]).await;
    for path in [
        "/api/jobs/..%2F..%2Fetc%2Fpasswd",
        "/api/jobs/../../etc/passwd/result",
        "/api/jobs/ABCDEF0123456789ABCDEF0123456789",
        "/api/jobs/0123456789abcdef0123456789abcdef",
        "/api/jobs/0123456789abcdef0123456789abcdef/result",
        "/api/jobs/0123456789abcdef0123456789abcdef/secret",
        "/jobs/..%2Frestyle.db",
    ] {
        let r = s.get(path).await;
        assert_eq!(r.status(), 404, "{path}");
    }
    let r = s.delete("/api/jobs/0123456789abcdef0123456789abcdef").await;
    assert_eq!(r.status(), 404);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_guards_everything_but_the_static_files() {
    let s = TestServer::start(&["--workers", "0", "--token", "s3cret-token"]).await;
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let (status, message) =
        error_of(no_redirects.get(s.url("/api/jobs")).send().await.unwrap()).await;
    assert_eq!(status, 401);
    assert!(message.contains("token"), "{message}");
    let wrong = no_redirects
        .get(s.url("/api/jobs"))
        .bearer_auth("s3cret-tokeN")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let right = no_redirects
        .get(s.url("/api/jobs"))
        .bearer_auth("s3cret-token")
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), 200);
    let r = no_redirects
        .post(s.url("/api/jobs"))
        .multipart(small_job(48, 5))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "no submissions without the token");

    let page = no_redirects.get(s.url("/")).send().await.unwrap();
    assert_eq!(page.status(), 401);
    assert!(page.text().await.unwrap().contains("Token needed"));
    let login = no_redirects
        .get(s.url("/?token=s3cret-token"))
        .send()
        .await
        .unwrap();
    assert!(login.status().is_redirection());
    let cookie = login.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    assert!(cookie.starts_with("restyle_session="));
    assert!(
        !cookie.contains("s3cret-token"),
        "the cookie does not hold the token"
    );
    let page = no_redirects
        .get(s.url("/"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);

    for public in [
        "/assets/app.css",
        "/assets/app.js",
        "/assets/styles/starry_night-thumb.jpg",
    ] {
        assert_eq!(
            no_redirects
                .get(s.url(public))
                .send()
                .await
                .unwrap()
                .status(),
            200,
            "{public}"
        );
    }
    s.stop().await;
}
