//! Video jobs: a clip is checked before it is stored (its length, that it is a clip at all),
//! painted frame by frame with its sound and frame count kept, served to a player (ranges),
//! cancelled, and resumed after a restart from the segments painted. The clips are made here by
//! ffmpeg (small and short); without ffmpeg these tests say they are skipped.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use reqwest::multipart::Form;
use restyle_test_support::http::{error_of, file, is_final, read_events};
use restyle_test_support::{require_or_skip, TestServer};
use serde_json::Value;

/// Whether ffmpeg and ffprobe run here (else the test is skipped, or fails in CI).
fn ffmpeg_here() -> bool {
    let runs = |program: &str| {
        Command::new(program)
            .arg("-version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    runs("ffmpeg") && runs("ffprobe")
        || require_or_skip("video jobs", "ffmpeg and ffprobe are not on PATH")
}

/// A `seconds` long 96x64 test pattern at `fps` frames a second with a sine tone, as MP4.
fn clip(dir: &Path, seconds: f64, fps: u32) -> Vec<u8> {
    let path = dir.join(format!("clip-{seconds}-{fps}.mp4"));
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("testsrc=size=96x64:rate={fps}"))
        .args([
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=44100",
            "-t",
        ])
        .arg(seconds.to_string())
        .args([
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-shortest",
        ])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read(path).unwrap()
}

/// A fast video job for `bytes`, painted at the clip's own size.
fn clip_job(bytes: Vec<u8>, method: &str) -> Form {
    let form = Form::new()
        .part("content", file(bytes, "clip.mp4"))
        .text("style_preset", "starry_night")
        .text("method", method.to_owned());
    if method == "gatys" {
        form.text("iterations", "2")
    } else {
        form
    }
}

/// (frames, has sound) of a clip, by ffprobe.
fn probe(bytes: &[u8], dir: &Path) -> (u64, bool) {
    let path = dir.join("probed.mp4");
    std::fs::write(&path, bytes).unwrap();
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-count_frames",
            "-of",
            "json",
            "-show_streams",
        ])
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success());
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let streams = report["streams"].as_array().unwrap();
    let video = streams
        .iter()
        .find(|s| s["codec_type"] == "video")
        .expect("a video stream");
    assert_eq!(video["codec_name"], "h264");
    let frames = video["nb_read_frames"].as_str().unwrap().parse().unwrap();
    (frames, streams.iter().any(|s| s["codec_type"] == "audio"))
}

/// (frames, has sound) of job `id`'s painted clip.
async fn painted(s: &TestServer, id: &str, dir: &Path) -> (u64, bool) {
    probe(&s.result(id).await, dir)
}

/// Waits until job `id` has painted a frame, cancels it, and waits until it is cancelled.
async fn cancel_once_painting(s: &TestServer, id: &str) {
    s.wait_for(id, Duration::from_secs(300), |j| {
        j["step"].as_u64() > Some(0) || is_final(j)
    })
    .await;
    assert_eq!(s.cancel(id).await.status(), 200);
    let job = s.wait_until_final(id, Duration::from_secs(300)).await;
    assert_eq!(job["state"], "cancelled", "{job}");
}

/// Whether the health check `health` counts no job queued and none running.
fn nothing_queued_or_running(health: &Value) -> bool {
    (health["queued"].as_u64(), health["running"].as_u64()) == (Some(0), Some(0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_clip_is_painted_with_its_sound_and_frame_count() {
    if !ffmpeg_here() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(&[]).await;
    let id = s
        .submit_ok(clip_job(clip(dir.path(), 1.0, 10), "fast"))
        .await;
    let job = s.job(&id).await;
    assert_eq!(job["settings"]["clip"]["frames"], 10, "{job}");
    assert_eq!(job["settings"]["clip"]["sound"], true, "{job}");
    assert_eq!(job["total_steps"], 10, "progress counts frames: {job}");
    assert_eq!(
        (job["width"].as_u64(), job["height"].as_u64()),
        (Some(96), Some(64))
    );
    let job = s.wait_until_final(&id, Duration::from_secs(300)).await;
    assert_eq!(job["state"], "done", "{job}");
    assert_eq!(job["step"], 10, "{job}");

    let result = s.get(job["result_url"].as_str().unwrap()).await;
    assert_eq!(result.status(), 200);
    assert_eq!(result.headers()["content-type"], "video/mp4");
    assert_eq!(result.headers()["accept-ranges"], "bytes");
    let bytes = result.bytes().await.unwrap().to_vec();
    assert_eq!(
        probe(&bytes, dir.path()),
        (10, true),
        "frames and sound kept"
    );

    // A player asks for parts.
    let part = s
        .client
        .get(s.url(&format!("/api/jobs/{id}/result")))
        .header("Range", "bytes=4-11")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(
        part.headers()["content-range"],
        format!("bytes 4-11/{}", bytes.len()).as_str()
    );
    assert_eq!(part.bytes().await.unwrap().as_ref(), &bytes[4..12]);
    let beyond = s
        .client
        .get(s.url(&format!("/api/jobs/{id}/result")))
        .header("Range", format!("bytes={}-", bytes.len()))
        .send()
        .await
        .unwrap();
    assert_eq!(beyond.status(), 416);

    // The page plays it, and the list shows a clip.
    let page = s.job_page(&id).await;
    assert!(
        page.contains(&format!("<video id=\"clip\" src=\"/api/jobs/{id}/result\"")),
        "{page}"
    );
    let index = s.get("/").await.text().await.unwrap();
    assert!(
        index.contains("clip, 10 frames"),
        "the gallery names the clip"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clips_too_long_or_broken_are_refused_before_they_are_stored() {
    if !ffmpeg_here() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(&["--workers", "0", "--max-video-seconds", "1"]).await;
    let (status, message) =
        error_of(s.submit(clip_job(clip(dir.path(), 2.0, 10), "fast")).await).await;
    assert_eq!(status, 422, "{message}");
    assert!(message.contains("max_video_seconds"), "{message}");
    assert!(message.contains("2.0 s long"), "{message}");

    // An MP4's first bytes, then nothing a decoder can read.
    let mut broken = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom".to_vec();
    broken.extend(std::iter::repeat_n(0x5a, 2000));
    let (status, message) = error_of(s.submit(clip_job(broken, "fast")).await).await;
    assert!(status == 415 || status == 422, "{status} {message}");
    assert!(message.contains("the content clip"), "{message}");
    assert!(
        !message.contains(s.data.path().to_str().unwrap()),
        "no server paths: {message}"
    );

    // Regions are for pictures.
    let with_keep = clip_job(clip(dir.path(), 1.0, 10), "fast")
        .part("keep", file(restyle_test_support::png(96, 64), "keep.png"));
    let (status, message) = error_of(s.submit(with_keep).await).await;
    assert_eq!(status, 422, "{message}");

    assert_eq!(s.jobs().await.len(), 0, "nothing queued");
    let images = s.data.path().join("images");
    let left = std::fs::read_dir(&images).map_or(0, |d| d.count());
    assert_eq!(left, 0, "nothing stored");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clip_is_cancelled_and_resumed_after_a_restart() {
    if !ffmpeg_here() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // 120 frames: the run checkpoints every 50.
    let long = clip(dir.path(), 4.8, 25);
    let s = TestServer::start(&[]).await;

    // Cancelled while it paints: it stops, and its work folder goes.
    let id = s.submit_ok(clip_job(long.clone(), "fast")).await;
    cancel_once_painting(&s, &id).await;
    let work = s.data.path().join("images").join(&id).join("video");
    assert!(!work.exists(), "the work folder is removed");

    // Stopped by a shutdown after its first segment: back in the queue, its checkpoint kept.
    let id = s.submit_ok(clip_job(long, "fast")).await;
    s.wait_for(&id, Duration::from_secs(300), |j| {
        j["step"].as_u64() > Some(55) || is_final(j)
    })
    .await;
    let s = s.restart(&["--workers", "0"]).await;
    let job = s.job(&id).await;
    assert_eq!(job["state"], "queued", "{job}");
    let state = s
        .data
        .path()
        .join("images")
        .join(&id)
        .join("video/.painted.mp4.restyle/state.json");
    let checkpoint: Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    assert!(
        checkpoint["frames_done"].as_u64() >= Some(50),
        "{checkpoint}"
    );

    // The next run continues from there: it never reports a frame before the checkpoint.
    let s = s.restart(&[]).await;
    let events = read_events(
        &s.client,
        &s.url(&format!("/api/jobs/{id}/events")),
        Duration::from_secs(300),
    )
    .await;
    let running: Vec<u64> = events
        .iter()
        .filter(|(name, job)| name == "job" && job["state"] == "running")
        .map(|(_, job)| job["step"].as_u64().unwrap())
        .collect();
    assert!(running.iter().all(|&step| step >= 50), "{running:?}");
    let job = s.job(&id).await;
    assert_eq!(job["state"], "done", "{job}");
    assert_eq!(
        painted(&s, &id, dir.path()).await,
        (120, true),
        "every frame, once"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clip_is_painted_by_the_optimisation_too() {
    if !ffmpeg_here() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(&[]).await;
    let form = clip_job(clip(dir.path(), 1.0, 4), "gatys");
    let (id, job) = s.submit_until_done(form, Duration::from_secs(600)).await;
    assert_eq!(job["settings"]["method"], "gatys", "{job}");
    assert_eq!(
        (job["step"].as_u64(), job["total_steps"].as_u64()),
        (Some(4), Some(4))
    );
    assert_eq!(painted(&s, &id, dir.path()).await, (4, true));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clips_beyond_the_memory_or_disk_budget_are_refused() {
    if !ffmpeg_here() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let bytes = clip(dir.path(), 1.0, 10);
    let large = || clip_job(bytes.clone(), "fast").text("size", "1024");

    // A frame's whole pipeline at 1024 px needs more than 100 MB.
    let s = TestServer::start(&["--workers", "0", "--max-job-memory", "100M"]).await;
    let (status, message) = error_of(s.submit(large()).await).await;
    assert_eq!(status, 422, "{message}");
    assert!(message.contains("frame needs about"), "{message}");
    assert!(message.contains("at most size"), "{message}");
    s.submit_ok(clip_job(bytes.clone(), "fast")).await; // at its own 96x64, it fits
    s.stop().await;

    // Its result, counted before it exists (10 frames of 1024x682), is more than 1 MB.
    let s = TestServer::start(&["--workers", "0", "--max-disk", "1M"]).await;
    let (status, message) = error_of(s.submit(large()).await).await;
    assert_eq!(status, 429, "beyond one client's share first: {message}");
    s.stop().await;
    let s = TestServer::start(&[
        "--workers",
        "0",
        "--max-disk",
        "1M",
        "--max-disk-share",
        "1",
    ])
    .await;
    let (status, message) = error_of(s.submit(large()).await).await;
    assert_eq!(status, 507, "{message}");
    assert!(message.contains("storage is full"), "{message}");
    s.submit_ok(clip_job(bytes, "fast")).await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_clip_is_painted_in_chunks_by_two_slots_and_joined() {
    if !ffmpeg_here() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // 14 s: over the 12 s of a long clip, two chunks of 7 s.
    let long = clip(dir.path(), 14.0, 10);
    let s = TestServer::start(&["--workers", "2"]).await;
    let id = s.submit_ok(clip_job(long, "fast")).await;
    // The clip's job and both chunks run at once.
    let mut most_running = 0;
    loop {
        let health = s.health().await;
        most_running = most_running.max(health["running"].as_u64().unwrap());
        let job = s.job(&id).await;
        if is_final(&job) {
            assert_eq!(job["state"], "done", "{job}");
            assert_eq!(
                (job["step"].as_u64(), job["total_steps"].as_u64()),
                (Some(140), Some(140))
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(most_running, 3, "the clip's job and its two chunks");
    assert_eq!(
        painted(&s, &id, dir.path()).await,
        (140, true),
        "every frame once, and the sound"
    );
    // The chunks are gone with their work; only the clip's job is listed.
    let health = s.health().await;
    assert!(nothing_queued_or_running(&health), "{health}");
    let folders = std::fs::read_dir(s.data.path().join("images"))
        .unwrap()
        .count();
    assert_eq!(folders, 1, "the clip's job's images only");

    // A cancel of the clip's job stops and removes its chunks.
    let id = s
        .submit_ok(clip_job(clip(dir.path(), 14.0, 10), "fast"))
        .await;
    cancel_once_painting(&s, &id).await;
    let mut polls = 0;
    loop {
        polls += 1;
        assert!(polls < 6000, "the chunks of a cancelled clip stop");
        if nothing_queued_or_running(&s.health().await) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    s.stop().await;
}
