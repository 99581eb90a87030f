//! `restyle video`, the real binary, end to end on small clips that ffmpeg makes here (a test
//! pattern with a tone, one without sound, one frame) and on the shared Big Buck Bunny excerpt.
//! Needs `ffmpeg` and `ffprobe` (Debian: `ffmpeg`); without them the tests that need them say so
//! and pass, unless RESTYLE_REQUIRE_ALL_TESTS=1 (CI).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use restyle_test_support::cli::{assert_refused, restyle, stderr};
use restyle_test_support::require_or_skip;
use serde_json::Value;

fn has_ffmpeg() -> bool {
    ["ffmpeg", "ffprobe"].iter().all(|p| {
        Command::new(p)
            .arg("-version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

/// Runs ffmpeg with `args`, which must succeed.
fn ffmpeg(args: &[&str], dir: &Path) {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-y"])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "ffmpeg {args:?}: {}", stderr(&out));
}

/// A test pattern clip, `seconds` long at 10 frames a second, 96x64, with a tone if `sound`.
fn make_clip(dir: &Path, name: &str, seconds: f64, sound: bool) -> PathBuf {
    let t = format!("{seconds}");
    let mut args = vec!["-f", "lavfi", "-i", "testsrc2=size=96x64:rate=10"];
    if sound {
        args.extend(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"]);
    }
    args.extend(["-t", &t, "-c:v", "libx264", "-pix_fmt", "yuv420p"]);
    if sound {
        args.extend(["-c:a", "aac"]);
    }
    args.push(name);
    ffmpeg(&args, dir);
    dir.join(name)
}

/// A small painting: stripes and blobs in a few colours (the style network needs a style).
fn make_style(dir: &Path) -> PathBuf {
    let img = image::ImageBuffer::from_fn(64, 64, |x, y| {
        let stripe = ((x + 2 * y) / 6) % 3;
        match stripe {
            0 => image::Rgb([200u8, 60, 30]),
            1 => image::Rgb([30, 90, 200]),
            _ => image::Rgb([240, 220, 80]),
        }
    });
    let path = dir.join("style.png");
    img.save(&path).unwrap();
    path
}

/// What ffprobe says of a file's streams: (codec_type, frame count or packets, r_frame_rate).
fn streams(path: &Path) -> Vec<Value> {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-count_frames",
            "-of",
            "json",
            "-show_streams",
        ])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ffprobe {}: {}",
        path.display(),
        stderr(&out)
    );
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    json["streams"].as_array().unwrap().clone()
}

fn video_stream(path: &Path) -> Value {
    streams(path)
        .into_iter()
        .find(|s| s["codec_type"] == "video")
        .expect("a video stream")
}

fn frame_count(path: &Path) -> u64 {
    video_stream(path)["nb_read_frames"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

fn has_sound(path: &Path) -> bool {
    streams(path).iter().any(|s| s["codec_type"] == "audio")
}

macro_rules! need_ffmpeg {
    () => {
        if !has_ffmpeg() {
            require_or_skip(
                "the video tests",
                "ffmpeg and ffprobe are not on PATH (Debian: apt-get install ffmpeg)",
            );
            return;
        }
    };
}

#[test]
fn sound_frame_rate_and_frame_count_are_kept() {
    need_ffmpeg!();
    let dir = tempfile::tempdir().unwrap();
    let clip = make_clip(dir.path(), "clip.mp4", 2.0, true);
    let style = make_style(dir.path());
    let out = restyle(
        &[
            "video",
            clip.to_str().unwrap(),
            style.to_str().unwrap(),
            "-o",
            "out.mp4",
            "-q",
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let painted = dir.path().join("out.mp4");
    let v = video_stream(&painted);
    assert_eq!(frame_count(&painted), 20);
    assert_eq!(v["r_frame_rate"], "10/1");
    assert_eq!(
        (v["width"].as_u64(), v["height"].as_u64()),
        (Some(96), Some(64))
    );
    assert!(has_sound(&painted), "the sound track is kept");
    // The frames are painted, not copied.
    let source = std::fs::read(&clip).unwrap();
    assert_ne!(std::fs::read(&painted).unwrap(), source);
    // No work folder is left behind.
    assert!(!dir.path().join(".out.mp4.restyle").exists());
}

#[test]
fn the_shared_clip_keeps_its_sound_rate_and_frames_in_every_container() {
    need_ffmpeg!();
    let clip =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/video/big_buck_bunny_5s.mp4");
    if !clip.is_file() {
        require_or_skip(
            "the shared clip's test",
            "../shared/video/big_buck_bunny_5s.mp4 is not beside the repository",
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let style = make_style(dir.path());
    let clip = clip.to_str().unwrap();
    // 1.2 s from 2 s on: 30 frames at 25 a second, the sound cut alike.
    for name in ["out.mp4", "out.webm", "out.mkv"] {
        let out = restyle(
            &[
                "video",
                clip,
                style.to_str().unwrap(),
                "-o",
                name,
                "-s",
                "128",
                "--start",
                "2",
                "--duration",
                "1.2",
                "-q",
            ],
            dir.path(),
        );
        assert!(out.status.success(), "{name}: {}", stderr(&out));
        let painted = dir.path().join(name);
        let v = video_stream(&painted);
        assert_eq!(frame_count(&painted), 30, "{name}");
        assert_eq!(v["r_frame_rate"], "25/1", "{name}");
        assert_eq!(v["width"].as_u64(), Some(128), "{name}");
        assert!(has_sound(&painted), "{name} keeps the sound");
    }
}

#[test]
fn a_clip_without_sound_and_a_one_frame_clip() {
    need_ffmpeg!();
    let dir = tempfile::tempdir().unwrap();
    let silent = make_clip(dir.path(), "silent.mp4", 1.0, false);
    let style = make_style(dir.path());
    let out = restyle(
        &[
            "video",
            silent.to_str().unwrap(),
            style.to_str().unwrap(),
            "-o",
            "a.mp4",
            "-q",
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(frame_count(&dir.path().join("a.mp4")), 10);
    assert!(!has_sound(&dir.path().join("a.mp4")));
    let one = dir.path().join("one.mp4");
    ffmpeg(
        &["-i", "silent.mp4", "-frames:v", "1", "one.mp4"],
        dir.path(),
    );
    let out = restyle(
        &[
            "video",
            one.to_str().unwrap(),
            style.to_str().unwrap(),
            "-o",
            "b.mp4",
            "-q",
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(frame_count(&dir.path().join("b.mp4")), 1);
}

#[test]
fn gif_and_png_sequences_need_no_ffmpeg() {
    let dir = tempfile::tempdir().unwrap();
    let style = make_style(dir.path());
    // Four PNG frames of a moving square.
    std::fs::create_dir(dir.path().join("in")).unwrap();
    for i in 0..4u32 {
        let img = image::ImageBuffer::from_fn(48, 32, |x, y| {
            let inside = (x + 40 - 4 * i) % 48 < 12 && (8..24).contains(&y);
            if inside {
                image::Rgb([250u8, 250, 250])
            } else {
                image::Rgb([20, 40 + 4 * x as u8, 90])
            }
        });
        img.save(dir.path().join(format!("in/{:03}.png", i + 1)))
            .unwrap();
    }
    std::fs::create_dir(dir.path().join("out")).unwrap();
    // PATH without ffmpeg.
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_restyle"))
            .args(args)
            .current_dir(dir.path())
            .env("PATH", "/nonexistent")
            .output()
            .unwrap()
    };
    let out = run(&[
        "video",
        "in/%03d.png",
        style.to_str().unwrap(),
        "-o",
        "out/%05d.png",
        "-q",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    for i in 1..=4 {
        let frame = image::open(dir.path().join(format!("out/{i:05}.png"))).unwrap();
        assert_eq!((frame.width(), frame.height()), (48, 32));
    }
    assert!(!dir.path().join("out/00005.png").exists());
    // The folder of frames in, an animated GIF out, and that GIF in again.
    let out = run(&[
        "video",
        "in",
        style.to_str().unwrap(),
        "-o",
        "anim.gif",
        "--fps",
        "5",
        "-q",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run(&[
        "video",
        "anim.gif",
        style.to_str().unwrap(),
        "-o",
        "again.gif",
        "-q",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    use image::AnimationDecoder;
    let file = std::io::BufReader::new(std::fs::File::open(dir.path().join("again.gif")).unwrap());
    let frames = image::codecs::gif::GifDecoder::new(file)
        .unwrap()
        .into_frames()
        .collect_frames()
        .unwrap();
    assert_eq!(frames.len(), 4);
    assert_eq!(frames[0].delay().numer_denom_ms(), (200, 1));
    // An mp4 without ffmpeg: one line saying how to get it.
    let out = run(&["video", "in", style.to_str().unwrap(), "-o", "x.mp4"]);
    assert_refused(&out, "ffmpeg");
    assert!(
        stderr(&out).contains("apt-get install ffmpeg"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn bad_requests_fail_in_one_line_and_leave_nothing() {
    need_ffmpeg!();
    let dir = tempfile::tempdir().unwrap();
    let style = make_style(dir.path());
    let style = style.to_str().unwrap();
    let clip = make_clip(dir.path(), "clip.mp4", 0.5, false);
    let clip = clip.to_str().unwrap();
    std::fs::write(dir.path().join("broken.mp4"), b"this is not a video at all").unwrap();
    assert_refused(
        &restyle(&["video", "broken.mp4", style, "-o", "o.mp4"], dir.path()),
        "broken.mp4",
    );
    assert_refused(
        &restyle(&["video", "missing.mp4", style, "-o", "o.mp4"], dir.path()),
        "missing.mp4",
    );
    assert_refused(
        &restyle(&["video", clip, style, "-o", "o.avi"], dir.path()),
        ".mp4",
    );
    assert_refused(
        &restyle(
            &["video", clip, style, "-o", "no/such/dir/o.mp4"],
            dir.path(),
        ),
        "does not exist",
    );
    assert_refused(
        &restyle(
            &[
                "video",
                clip,
                style,
                "-o",
                "o.mp4",
                "--ffmpeg",
                "/no/ffmpeg",
            ],
            dir.path(),
        ),
        "ffmpeg /no/ffmpeg is not a file",
    );
    assert_refused(
        &restyle(
            &["video", clip, style, "-o", "o.mp4", "--strength", "2"],
            dir.path(),
        ),
        "strength must be between 0 and 1",
    );
    assert_refused(
        &restyle(
            &["video", clip, style, "-o", "o.mp4", "--iterations", "5"],
            dir.path(),
        ),
        "iterations applies to method gatys",
    );
    assert_refused(
        &restyle(
            &["video", clip, style, "-o", "o.mp4", "--max-memory", "1M"],
            dir.path(),
        ),
        "max_memory allows",
    );
    assert_refused(
        &restyle(&["video", clip, style, "-o", clip], dir.path()),
        "input",
    );
    // An existing output is kept unless asked.
    std::fs::write(dir.path().join("taken.mp4"), b"mine").unwrap();
    assert_refused(
        &restyle(&["video", clip, style, "-o", "taken.mp4"], dir.path()),
        "overwrite (-y) replaces it",
    );
    assert_eq!(
        std::fs::read(dir.path().join("taken.mp4")).unwrap(),
        b"mine"
    );
    // Unwritable output folder.
    let locked = dir.path().join("locked");
    std::fs::create_dir(&locked).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o500)).unwrap();
    if std::fs::write(locked.join("probe"), b"").is_ok() {
        // Root writes anywhere: the permission test means nothing here.
        let _ = std::fs::remove_file(locked.join("probe"));
        eprintln!("skipped: the unwritable-folder case (this user writes into a read-only folder)");
    } else {
        let out = restyle(
            &["video", clip, style, "-o", "locked/o.mp4", "-q"],
            dir.path(),
        );
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    }
    // Nothing half-written is left as if finished.
    for name in ["o.mp4", "o.avi"] {
        assert!(!dir.path().join(name).exists(), "{name} left behind");
    }
}

#[test]
fn a_full_disk_fails_in_one_line_and_leaves_no_output() {
    need_ffmpeg!();
    let dir = tempfile::tempdir().unwrap();
    let style = make_style(dir.path());
    let clip = make_clip(dir.path(), "clip.mp4", 3.0, true);
    let small = dir.path().join("small");
    std::fs::create_dir(&small).unwrap();
    // A 64 KiB file system: the painted clip does not fit.
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
        .arg(&small)
        .output()
        .is_ok_and(|o| o.status.success());
    if !mounted {
        require_or_skip(
            "the full disk test",
            "cannot mount a small tmpfs to fill (needs root)",
        );
        return;
    }
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(small.clone());
    let out = restyle(
        &[
            "video",
            clip.to_str().unwrap(),
            style.to_str().unwrap(),
            "-o",
            "small/o.mp4",
            "-s",
            "96",
            "-q",
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(
        stderr(&out).trim_end().lines().count(),
        1,
        "{}",
        stderr(&out)
    );
    assert!(!small.join("o.mp4").exists());
}

/// Starts `restyle video ... --json`, sends Ctrl-C (SIGINT) after `frames` frames, waits; returns
/// how it ended, with everything it printed on standard output.
fn interrupted_run(dir: &Path, args: &[&str], frames: u64) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_restyle"))
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut printed = Vec::new();
    let started = Instant::now();
    let mut sent = false;
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        let event: Value = serde_json::from_str(&line).unwrap();
        if !sent && event["event"] == "frame" && event["frame"].as_u64().unwrap() >= frames {
            let _ = Command::new("kill")
                .args(["-INT", &child.id().to_string()])
                .status();
            sent = true;
        }
        printed.extend_from_slice(line.as_bytes());
        printed.push(b'\n');
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "the run did not end"
        );
    }
    let mut out = child.wait_with_output().unwrap();
    out.stdout = printed;
    out
}

#[test]
fn ctrl_c_leaves_a_playable_clip_and_resume_finishes_it() {
    need_ffmpeg!();
    let dir = tempfile::tempdir().unwrap();
    let style = make_style(dir.path());
    // 12 s at 10 frames a second: three segments of 50 frames and a bit.
    let clip = make_clip(dir.path(), "clip.mp4", 12.0, true);
    let args = [
        "video",
        clip.to_str().unwrap(),
        style.to_str().unwrap(),
        "-o",
        "out.mp4",
        "-s",
        "48",
        "--json",
    ];
    let out = interrupted_run(dir.path(), &args, 60);
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    let done: Value = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|e| e["event"] == "done")
        .expect("a done event");
    assert_eq!(done["stopped"], true);
    let kept = done["frames"].as_u64().unwrap();
    assert!((60..120).contains(&kept), "{kept} frames kept");
    let painted = dir.path().join("out.mp4");
    assert_eq!(
        frame_count(&painted),
        kept,
        "the stopped clip plays its frames"
    );
    assert!(has_sound(&painted));
    assert!(stderr(&out).contains("resume"), "{}", stderr(&out));
    // Resumed: the rest is painted, and the clip is whole.
    let mut resume = args.to_vec();
    resume.push("--resume");
    let out = restyle(&resume, dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
    let done: Value = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|e| e["event"] == "done")
        .unwrap();
    assert_eq!(done["resumed_from"].as_u64(), Some(kept));
    assert_eq!(done["stopped"], false);
    assert_eq!(frame_count(&painted), 120);
    assert!(has_sound(&painted));
    assert!(!dir.path().join(".out.mp4.restyle").exists());
    // Resuming another request is refused.
    let out = interrupted_run(
        dir.path(),
        &[
            "video",
            clip.to_str().unwrap(),
            style.to_str().unwrap(),
            "-o",
            "two.mp4",
            "-s",
            "48",
            "--json",
        ],
        55,
    );
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    let out = restyle(
        &[
            "video",
            clip.to_str().unwrap(),
            style.to_str().unwrap(),
            "-o",
            "two.mp4",
            "-s",
            "64",
            "--resume",
        ],
        dir.path(),
    );
    assert_refused(&out, "another request");
}
