//! The instant lane of the real `restyle serve`: fast pictures are painted in processes
//! of their own, so that killing one, or one running out of its memory limit, fails that
//! picture, with the reason, and nothing else; a large fast picture is the workers', not the lane's, so that small
//! ones of other clients are still served; and a fast job of six 30-megapixel uploads is
//! refused for its memory, or painted within its estimate and the painting process's
//! documented margin; a 30-megapixel JPEG for a 512 px job is decoded shrunk; a painting
//! process that hangs is killed past its picture's deadline and replaced; a 12-megapixel PNG
//! for a 512 px job is read shrunk.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use restyle_server::painter::PAINTER_OVERHEAD;
use restyle_test_support::cli::restyle_bin;
use restyle_test_support::http::{error_of, file, is_final, needed_memory, small_fast_job};
use restyle_test_support::process::{children, rss, Api, Proc};
use restyle_test_support::{jpeg, png};
use serde_json::Value;

/// `restyle serve --workers 0 FLAGS` in `dir` whose painting processes run the shell
/// script `script` (written to `dir/painter.sh`) instead of `restyle instant-painter`.
fn serve_with_painter(dir: &Path, script: &str, flags: &[&str]) -> (Proc, String) {
    let painter = dir.join("painter.sh");
    std::fs::write(&painter, script).unwrap();
    std::fs::set_permissions(&painter, PermissionsExt::from_mode(0o755)).unwrap();
    let mut all = vec![
        "--workers",
        "0",
        "--instant-painter",
        painter.to_str().unwrap(),
    ];
    all.extend_from_slice(flags);
    Proc::serve_in(dir, &all)
}

/// A fast job of `upload` sent as every image a job takes: the photo, two paintings,
/// their two masks and the part kept.
fn six_uploads(upload: &[u8], size: u32) -> reqwest::multipart::Form {
    let mut form = reqwest::multipart::Form::new();
    for field in ["content", "style", "style_2", "mask_1", "mask_2", "keep"] {
        form = form.part(field, file(upload.to_vec(), &format!("{field}.jpg")));
    }
    form.text("size", size.to_string()).text("method", "fast")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_painting_process_fails_its_picture_and_the_server_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let (server, url) = Proc::serve_in(dir.path(), &["--workers", "0"]);
    let api = Api::new(&url);
    let first = api.submit_form_ok(small_fast_job(64)).await;
    let job = api
        .wait_for(&first, Duration::from_secs(120), is_final)
        .await;
    assert_eq!(job["state"], "done", "{job}");
    let painters = children(server.child.id());
    assert!(
        !painters.is_empty(),
        "the picture was painted in a process of the server's own"
    );

    // A picture that takes a while; its process killed once the lane has it. Should
    // the picture be painted before the kill lands, another one is tried.
    let photo = png(1600, 1200);
    let mut killed = None;
    for _ in 0..5 {
        let form = reqwest::multipart::Form::new()
            .part("content", file(photo.clone(), "photo.png"))
            .part("style", file(png(300, 300), "painting.png"))
            .text("size", "1024")
            .text("method", "fast");
        let id = api.submit_form_ok(form).await;
        let job = api
            .wait_for(&id, Duration::from_secs(120), |j| j["state"] != "queued")
            .await;
        if job["state"] == "running" {
            for pid in children(server.child.id()) {
                let _ = std::process::Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status();
            }
        }
        let job = api.wait_for(&id, Duration::from_secs(120), is_final).await;
        if job["state"] == "failed" {
            killed = Some(job);
            break;
        }
    }
    let job = killed.expect("a painting process was killed mid-picture in five tries");
    let error = job["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("stopped before it was done"),
        "the failure says why: {job}"
    );

    // The server never stopped: health, the page, and the next picture.
    assert_eq!(api.status_of("/api/health").await, 200);
    assert_eq!(api.status_of("/").await, 200);
    let next = api.submit_form_ok(small_fast_job(64)).await;
    let job = api
        .wait_for(&next, Duration::from_secs(120), is_final)
        .await;
    assert_eq!(job["state"], "done", "{job}");
    api.check_result(&job).await;
    let now = children(server.child.id());
    assert!(
        !now.is_empty() && now.iter().all(|pid| !painters.contains(pid)),
        "a fresh painting process: {painters:?} then {now:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_fast_picture_leaves_the_instant_lane_to_small_ones() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, url) = Proc::serve_in(dir.path(), &[]);
    let (large, small) = (Api::new(&url), Api::new(&url));
    let upload = jpeg(6000, 5000);
    let id = large.submit_form_ok(six_uploads(&upload, 1024)).await;
    large
        .wait_for(&id, Duration::from_secs(120), |j| j["state"] != "queued")
        .await;
    // While it paints, another client's small picture is served, not refused.
    let r = small.submit_form(small_fast_job(64)).await;
    if r.status() != 201 {
        panic!("the small picture was refused: {:?}", error_of(r).await);
    }
    let body: Value = r.json().await.unwrap();
    let small_id = body["id"].as_str().unwrap();
    let job = small
        .wait_for(small_id, Duration::from_secs(120), is_final)
        .await;
    assert_eq!(job["state"], "done", "{job}");
    let job = large
        .wait_for(&id, Duration::from_secs(300), is_final)
        .await;
    assert_eq!(job["state"], "done", "{job}");
    large.check_result(&job).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fast_job_of_six_large_uploads_is_refused_or_painted_within_its_estimate() {
    let dir = tempfile::tempdir().unwrap();
    let serve = |data: &str, memory: &str, log: &str| {
        let data = dir.path().join(data);
        Proc::serve(
            &[
                "--data",
                data.to_str().unwrap(),
                "--max-job-memory",
                memory,
                "--max-instant-per-minute",
                "100",
            ],
            &dir.path().join(log),
        )
    };
    let (server, url) = serve("data", "800M", "serve.log");
    // A server that allows a job almost nothing says what each one needs.
    let (_probe, probe_url) = serve("probe", "16M", "probe.log");
    let (api, probe) = (Api::new(&url), Api::new(&probe_url));
    let large = jpeg(6000, 5000);
    let photo = jpeg(4000, 3000);
    let cases = [
        (
            "six 30-megapixel uploads",
            large.clone(),
            large.clone(),
            true,
        ),
        (
            "a 30-megapixel photo and painting",
            large.clone(),
            large,
            false,
        ),
        ("a 12-megapixel photo", photo, png(600, 600), false),
    ];
    let mut painted = 0;
    for (what, content, style, six) in cases {
        let form = || {
            if six {
                six_uploads(&content, 1024)
            } else {
                reqwest::multipart::Form::new()
                    .part("content", file(content.clone(), "photo.jpg"))
                    .part("style", file(style.clone(), "painting.jpg"))
                    .text("size", "1024")
                    .text("method", "fast")
            }
        };
        let (_, refusal) = error_of(probe.submit_form(form()).await).await;
        let estimate =
            needed_memory(&refusal).unwrap_or_else(|| panic!("{what}: an estimate in `{refusal}`"));
        let r = api.submit_form(form()).await;
        if r.status() != 201 {
            let (status, error) = error_of(r).await;
            println!("{what}: refused, {status}: {error}");
            assert!(
                (400..500).contains(&status) && error.contains("memory"),
                "{what}: refused for its memory: {status} {error}"
            );
            assert!(estimate > 800 << 20, "{what}: refused at {estimate} bytes");
            continue;
        }
        let body: Value = r.json().await.unwrap();
        let id = body["id"].as_str().unwrap();
        let job = api.wait_for(id, Duration::from_secs(300), is_final).await;
        assert_eq!(job["state"], "done", "{what}: {job}");
        painted += 1;
        let painters = children(server.child.id());
        assert!(!painters.is_empty(), "painted in a process of its own");
        let peak = painters.iter().map(|pid| rss(*pid).1).max().unwrap();
        // Idle now: ended, so that the next job's peak is its own (a fresh one paints it).
        for pid in painters {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
        let (_, server_peak) = rss(server.child.id());
        println!(
            "{what}: painted; estimated {} MiB, the painting process peaked at {} MiB (VmHWM), the server at {} MiB",
            estimate >> 20,
            peak >> 20,
            server_peak >> 20
        );
        assert!(
            peak <= estimate + PAINTER_OVERHEAD as u64,
            "{what}: the painting process peaked at {} MiB, estimated {} MiB",
            peak >> 20,
            estimate >> 20
        );
    }
    assert!(painted > 0, "one of the jobs fits 800M and is painted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_30_megapixel_jpeg_for_a_512_px_job_is_decoded_shrunk() {
    let dir = tempfile::tempdir().unwrap();
    let (server, url) = Proc::serve_in(dir.path(), &["--workers", "0"]);
    let api = Api::new(&url);
    let job = |photo: Vec<u8>| {
        reqwest::multipart::Form::new()
            .part("content", file(photo, "photo.jpg"))
            .part("style", file(png(300, 300), "painting.png"))
            .text("size", "512")
            .text("iterations", "1")
    };
    // A small one first: what any submission allocates the first time is not counted.
    api.submit_form_ok(job(jpeg(600, 500))).await;
    let photo = jpeg(6000, 5000);
    let (_, before) = rss(server.child.id());
    let id = api.submit_form_ok(job(photo)).await;
    let (_, after) = rss(server.child.id());
    let grown = after.saturating_sub(before);
    println!(
        "a 30-megapixel JPEG for a 512 px job: the server's peak RSS grew by {} MiB",
        grown >> 20
    );
    // Whole, its pixels alone are 86 MiB; at an eighth (750x625), 1.4 MiB, and the
    // upload (a few MiB, held twice) comes on top.
    assert!(grown < 40 << 20, "peak RSS grew by {} MiB", grown >> 20);
    let job = api.job(&id).await;
    assert_eq!(
        (job["width"].as_u64(), job["height"].as_u64()),
        (Some(512), Some(427)),
        "{job}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_picture_beyond_its_process_memory_limit_fails_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    // Painting processes limited to 40 MB: the network loads, a 1024 px picture does not fit.
    let script = format!(
        "#!/bin/sh\nexec '{}' instant-painter --memory-limit 40000000\n",
        restyle_bin().display()
    );
    let (_server, url) = serve_with_painter(dir.path(), &script, &[]);
    let api = Api::new(&url);
    let form = reqwest::multipart::Form::new()
        .part("content", file(png(1200, 900), "photo.png"))
        .part("style", file(png(300, 300), "painting.png"))
        .text("size", "1024")
        .text("method", "fast");
    let id = api.submit_form_ok(form).await;
    let job = api.wait_for(&id, Duration::from_secs(120), is_final).await;
    assert_eq!(job["state"], "failed", "{job}");
    let error = job["error"].as_str().unwrap_or_default();
    assert!(error.contains("more memory"), "the failure says why: {job}");
    assert_eq!(api.status_of("/api/health").await, 200);
    assert_eq!(api.status_of("/").await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_painting_process_is_killed_past_its_deadline_and_replaced() {
    let dir = tempfile::tempdir().unwrap();
    // The first painting process hangs (reads nothing, answers nothing); those after it
    // are the real one.
    let hung_once = dir.path().join("hung-once");
    let script = format!(
        "#!/bin/sh\nif [ ! -e '{marker}' ]; then echo $$ > '{marker}'; exec sleep 100000; fi\nexec '{bin}' \"$@\"\n",
        marker = hung_once.display(),
        bin = restyle_bin().display()
    );
    // A small picture's deadline is the base: 5 s here rather than 20, for the test's time.
    let (server, url) =
        serve_with_painter(dir.path(), &script, &["--painter-deadline-seconds", "5"]);
    let api = Api::new(&url);
    let id = api.submit_form_ok(small_fast_job(64)).await;
    let job = api.wait_for(&id, Duration::from_secs(60), is_final).await;
    assert_eq!(job["state"], "failed", "{job}");
    let error = job["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("took longer than 5 s"),
        "the failure says why: {job}"
    );
    let hung: u32 = std::fs::read_to_string(&hung_once)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        !children(server.child.id()).contains(&hung),
        "the hung process {hung} was ended"
    );

    // The server goes on, and a fresh process paints the next picture.
    assert_eq!(api.status_of("/api/health").await, 200);
    let next = api.submit_form_ok(small_fast_job(64)).await;
    let job = api
        .wait_for(&next, Duration::from_secs(120), is_final)
        .await;
    assert_eq!(job["state"], "done", "{job}");
    api.check_result(&job).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_12_megapixel_png_for_a_512_px_job_is_read_shrunk() {
    let dir = tempfile::tempdir().unwrap();
    let (server, url) = Proc::serve_in(dir.path(), &["--workers", "0"]);
    let api = Api::new(&url);
    let job = |photo: Vec<u8>| {
        reqwest::multipart::Form::new()
            .part("content", file(photo, "photo.png"))
            .part("style", file(png(300, 300), "painting.png"))
            .text("size", "512")
            .text("iterations", "1")
    };
    // A small one first: what any submission allocates the first time is not counted.
    api.submit_form_ok(job(png(600, 500))).await;
    let photo = png(4000, 3000);
    let sent = photo.len();
    let (_, before) = rss(server.child.id());
    let id = api.submit_form_ok(job(photo)).await;
    let (_, after) = rss(server.child.id());
    let grown = after.saturating_sub(before);
    println!(
        "a 12-megapixel PNG ({} KiB) for a 512 px job: the server's peak RSS grew by {} MiB",
        sent >> 10,
        grown >> 20
    );
    // Decoded whole, the peak grew by 96 MiB (its pixels alone are 34 MiB); read in
    // blocks of 7 (572x429): a row of the file and the result, under the upload (16 MiB,
    // held at up to twice its size) that comes on top.
    assert!(grown < 48 << 20, "peak RSS grew by {} MiB", grown >> 20);
    let job = api.job(&id).await;
    assert_eq!(
        (job["width"].as_u64(), job["height"].as_u64()),
        (Some(512), Some(384)),
        "{job}"
    );
}
