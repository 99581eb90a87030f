//! ffmpeg as a child process: `ffprobe` reads what a clip is, `ffmpeg` decodes it to raw RGB
//! frames on a pipe and encodes raw frames from a pipe, with the input's sound copied in.
//!
//! Why a child process and not bindings: the `ffmpeg` program is what every tool people trust
//! for video runs, it reads every container and codec its build has, and raw frames over pipes
//! keep restyle free of a C library's ABI (and of building it).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::thread::JoinHandle;

use serde_json::Value;

use crate::error::{Error, Result};

/// Where the `ffmpeg` and `ffprobe` programs are.
#[derive(Clone, Debug)]
pub struct Ffmpeg {
    ffmpeg: PathBuf,
    ffprobe: PathBuf,
}

/// What a clip is, as ffprobe reports it (sizes as shown: after the rotation its metadata asks
/// for, which ffmpeg applies when it decodes).
#[derive(Clone, Debug, PartialEq)]
pub struct ClipInfo {
    pub width: usize,
    pub height: usize,
    /// Frames a second, as a fraction (25/1, 30000/1001).
    pub fps: (u32, u32),
    /// Frames in the video stream, when the container says or the duration tells.
    pub frames: Option<u64>,
    /// Seconds.
    pub duration: Option<f64>,
    /// The first sound stream's codec (`aac`, `opus`, ...), if the clip has sound.
    pub audio: Option<String>,
}

impl ClipInfo {
    pub fn fps_f64(&self) -> f64 {
        self.fps.0 as f64 / self.fps.1.max(1) as f64
    }
}

/// Which part of a clip to read.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Span {
    /// Seconds from the start.
    pub start: Option<f64>,
    /// Seconds to read.
    pub duration: Option<f64>,
}

impl Span {
    fn args(&self) -> Vec<String> {
        let mut args = Vec::new();
        if let Some(s) = self.start {
            args.extend(["-ss".to_string(), format!("{s:.6}")]);
        }
        if let Some(d) = self.duration {
            args.extend(["-t".to_string(), format!("{d:.6}")]);
        }
        args
    }
}

/// How a clip is written, chosen by the output's extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Container {
    /// .mp4, .mov, .m4v, .mkv: H.264 (yuv420p, even sizes), with the sound.
    H264,
    /// .webm: VP9, with the sound.
    WebM,
    /// .gif: animated GIF with a palette made for the clip; no sound.
    Gif,
    /// .webp: animated WebP; no sound.
    WebP,
}

impl Container {
    pub fn from_path(path: &Path) -> Option<Container> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        Some(match ext.as_str() {
            "mp4" | "mov" | "m4v" | "mkv" => Container::H264,
            "webm" => Container::WebM,
            "gif" => Container::Gif,
            "webp" => Container::WebP,
            _ => return None,
        })
    }

    /// H.264 in 4:2:0 wants even sizes; VP9 too.
    pub fn needs_even_size(self) -> bool {
        matches!(self, Container::H264 | Container::WebM)
    }
}

/// How `ffmpeg` is told to install, in the one line a missing program earns.
pub const INSTALL_HINT: &str =
    "install it (Debian/Ubuntu: apt-get install ffmpeg; macOS: brew install ffmpeg) or give its path as ffmpeg";

impl Ffmpeg {
    /// `explicit` (a path to the `ffmpeg` program), else `ffmpeg` on PATH; `ffprobe` beside it,
    /// else on PATH.
    pub fn find(explicit: Option<&Path>) -> Result<Ffmpeg> {
        let ffmpeg = match explicit {
            Some(path) if path.is_file() => path.to_path_buf(),
            Some(path) => {
                return Err(Error::FfmpegMissing(format!(
                    "ffmpeg {} is not a file",
                    path.display()
                )))
            }
            None => on_path("ffmpeg").ok_or_else(|| {
                Error::FfmpegMissing(format!("ffmpeg is not on PATH: {INSTALL_HINT}"))
            })?,
        };
        let beside = ffmpeg.with_file_name(format!("ffprobe{}", std::env::consts::EXE_SUFFIX));
        let ffprobe = if beside.is_file() {
            beside
        } else {
            on_path("ffprobe").ok_or_else(|| {
                Error::FfmpegMissing(format!(
                    "ffprobe (part of ffmpeg) is not beside {} nor on PATH: {INSTALL_HINT}",
                    ffmpeg.display()
                ))
            })?
        };
        Ok(Ffmpeg { ffmpeg, ffprobe })
    }

    /// What `input` is: its first video stream's size, frame rate and length, and whether it has sound.
    pub fn probe(&self, input: &Path) -> Result<ClipInfo> {
        let output = Command::new(&self.ffprobe)
            .args([
                "-v",
                "error",
                "-of",
                "json",
                "-show_streams",
                "-show_format",
            ])
            .arg(input)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| Error::Spawn {
                program: self.ffprobe.clone(),
                source: e,
            })?;
        if !output.status.success() {
            return Err(Error::NotAVideo {
                path: input.to_path_buf(),
                detail: last_line(&output.stderr),
            });
        }
        let json: Value = serde_json::from_slice(&output.stdout).map_err(|e| Error::NotAVideo {
            path: input.to_path_buf(),
            detail: format!("ffprobe's report is unreadable: {e}"),
        })?;
        parse_probe(&json).ok_or_else(|| Error::NotAVideo {
            path: input.to_path_buf(),
            detail: "it has no video stream".into(),
        })
    }

    /// Decodes `span` of `input` to `width x height` RGB frames (scaled by ffmpeg, area
    /// averaging when shrinking), at the clip's own frame rate.
    pub fn decode(&self, input: &Path, span: Span, width: usize, height: usize) -> Result<Decoder> {
        let mut cmd = self.command();
        // Before -i: seek the input (fast, and exact for decoded frames since ffmpeg 2.1).
        cmd.args(span.args());
        cmd.arg("-i").arg(input);
        // Every decoded frame once: no frame repeated or dropped to fill a constant rate (after
        // a seek the first frame would otherwise be doubled). ffmpeg 5.1 or later.
        cmd.args(["-map", "0:v:0", "-an", "-sn", "-fps_mode", "passthrough"]);
        cmd.args([
            "-vf",
            &format!("scale={width}:{height}:flags=area,setsar=1"),
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "pipe:1",
        ]);
        let (mut child, stderr) = self.start(cmd.stdin(Stdio::null()).stdout(Stdio::piped()))?;
        let stdout = child.stdout.take().expect("piped");
        Ok(Decoder {
            child,
            stdout,
            stderr: Some(stderr),
            frame_bytes: width * height * 3,
            input: input.to_path_buf(),
        })
    }

    /// Starts encoding `width x height` RGB frames at `fps` into `output` as `container`
    /// (pictures only: [`Ffmpeg::join`] adds the sound).
    pub fn encode(&self, output: &Path, setup: &EncodeSetup) -> Result<Encoder> {
        let EncodeSetup {
            container,
            width,
            height,
            fps,
        } = *setup;
        let mut cmd = self.command();
        cmd.args(["-y", "-f", "rawvideo", "-pix_fmt", "rgb24"]);
        cmd.args(["-s", &format!("{width}x{height}")]);
        cmd.args(["-r", &format!("{}/{}", fps.0, fps.1)]);
        cmd.args(["-i", "pipe:0", "-map", "0:v:0"]);
        match container {
            Container::H264 => {
                // veryfast: x264 then costs a few percent of a frame's painting.
                cmd.args(["-c:v", "libx264", "-preset", "veryfast", "-crf", "18"]);
                cmd.args(["-pix_fmt", "yuv420p", "-f", "matroska"]);
            }
            Container::WebM => {
                cmd.args([
                    "-c:v",
                    "libvpx-vp9",
                    "-crf",
                    "32",
                    "-b:v",
                    "0",
                    "-row-mt",
                    "1",
                ]);
                cmd.args([
                    "-deadline",
                    "realtime",
                    "-cpu-used",
                    "8",
                    "-pix_fmt",
                    "yuv420p",
                ]);
                cmd.args(["-f", "webm"]);
            }
            Container::Gif => {
                cmd.args([
                    "-filter_complex",
                    "[0:v]split[a][b];[a]palettegen=stats_mode=diff[p];[b][p]paletteuse=dither=sierra2_4a",
                    "-loop",
                    "0",
                    "-f",
                    "gif",
                ]);
            }
            Container::WebP => {
                cmd.args(["-c:v", "libwebp_anim", "-quality", "85", "-loop", "0"]);
                cmd.args(["-f", "webp"]);
            }
        }
        cmd.arg(output);
        let (mut child, stderr) = self.start(cmd.stdin(Stdio::piped()).stdout(Stdio::null()))?;
        let stdin = child.stdin.take().expect("piped");
        Ok(Encoder {
            child,
            stdin: Some(stdin),
            stderr: Some(stderr),
            frame_bytes: width * height * 3,
            output: output.to_path_buf(),
        })
    }

    /// `ffmpeg` with what every run of it shares: errors only, the terminal never read.
    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.ffmpeg);
        cmd.args(["-v", "error", "-nostdin"]);
        cmd
    }

    /// Starts `cmd`, its error output kept by [`collect_stderr`].
    fn start(&self, cmd: &mut Command) -> Result<(Child, JoinHandle<Vec<u8>>)> {
        let mut child = cmd
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| Error::Spawn {
                program: self.ffmpeg.clone(),
                source: e,
            })?;
        let stderr = collect_stderr(&mut child);
        Ok((child, stderr))
    }

    /// Joins the segments `list` names (ffmpeg's concat list, encoded alike by
    /// [`Ffmpeg::encode`]) without re-encoding them into `temp` as `final_name`'s format,
    /// with the sound of `sound`'s span where the clip has some (see [`audio_codec_args`]).
    /// The pictures decide the length: a stopped run's clip ends with its last frame.
    pub fn join(
        &self,
        list: &Path,
        temp: &Path,
        container: Container,
        sound: Option<(&Path, Span, &str)>,
        final_name: &Path,
    ) -> Result<()> {
        let mut cmd = self.command();
        cmd.args(["-y", "-f", "concat", "-safe", "0"]);
        cmd.arg("-i").arg(list);
        let format = match (container, output_extension(final_name).as_deref()) {
            (Container::WebM, _) => "webm",
            (_, Some("mkv")) => "matroska",
            (_, Some("mov")) => "mov",
            _ => "mp4",
        };
        if let Some((input, span, codec)) = sound {
            cmd.args(span.args()).arg("-i").arg(input);
            cmd.args(["-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy"]);
            cmd.args(audio_codec_args(format, codec));
            cmd.arg("-shortest");
        } else {
            cmd.args(["-map", "0:v:0", "-c:v", "copy"]);
        }
        if matches!(format, "mp4" | "mov") {
            cmd.args(["-movflags", "+faststart"]);
        }
        cmd.args(["-f", format]).arg(temp);
        let output = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .map_err(|e| Error::Spawn {
                program: self.ffmpeg.clone(),
                source: e,
            })?;
        if output.status.success() {
            Ok(())
        } else {
            let _ = std::fs::remove_file(temp);
            Err(Error::Encode {
                path: final_name.to_path_buf(),
                detail: last_line(&output.stderr),
            })
        }
    }
}

/// The sound is copied where the container takes its codec, else re-encoded: WebM takes only
/// Opus and Vorbis (to Opus), MP4 and MOV the usual lossy codecs (others to AAC); Matroska
/// takes anything.
pub fn audio_codec_args(format: &str, codec: &str) -> Vec<&'static str> {
    let copy = match format {
        "webm" => matches!(codec, "opus" | "vorbis"),
        "mp4" | "mov" => matches!(codec, "aac" | "mp3" | "alac" | "ac3" | "eac3" | "opus"),
        _ => true,
    };
    match (copy, format) {
        (true, _) => vec!["-c:a", "copy"],
        (false, "webm") => vec!["-c:a", "libopus", "-b:a", "128k"],
        (false, _) => vec!["-c:a", "aac", "-b:a", "192k"],
    }
}

/// The extension an output will have, looking through a temporary `.partial` suffix.
fn output_extension(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    let name = name.strip_suffix(".partial").unwrap_or(name);
    Some(Path::new(name).extension()?.to_str()?.to_ascii_lowercase())
}

/// What [`Ffmpeg::encode`] writes.
#[derive(Clone, Copy, Debug)]
pub struct EncodeSetup {
    pub container: Container,
    pub width: usize,
    pub height: usize,
    pub fps: (u32, u32),
}

fn parse_probe(json: &Value) -> Option<ClipInfo> {
    let streams = json.get("streams")?.as_array()?;
    let video = streams.iter().find(|s| {
        s.get("codec_type").and_then(Value::as_str) == Some("video")
            // A cover picture in a music file is not the clip.
            && s.pointer("/disposition/attached_pic").and_then(Value::as_i64) != Some(1)
    })?;
    let audio = streams
        .iter()
        .find(|s| s.get("codec_type").and_then(Value::as_str) == Some("audio"))
        .map(|s| {
            s.get("codec_name")
                .and_then(Value::as_str)
                .unwrap_or("unknown")
                .to_string()
        });
    let mut width = video.get("width")?.as_u64()? as usize;
    let mut height = video.get("height")?.as_u64()? as usize;
    let rotation = video
        .get("side_data_list")
        .and_then(Value::as_array)
        .and_then(|list| {
            list.iter()
                .find_map(|d| d.get("rotation").and_then(Value::as_f64))
        })
        .or_else(|| {
            video
                .pointer("/tags/rotate")
                .and_then(Value::as_str)
                .and_then(|r| r.parse().ok())
        })
        .unwrap_or(0.0);
    if (rotation.round() as i64).rem_euclid(180) == 90 {
        std::mem::swap(&mut width, &mut height);
    }
    let rate = |key: &str| {
        let text = video.get(key)?.as_str()?;
        let (n, d) = text.split_once('/')?;
        let (n, d): (u32, u32) = (n.parse().ok()?, d.parse().ok()?);
        (n > 0 && d > 0).then_some((n, d))
    };
    let fps = rate("avg_frame_rate")
        .or_else(|| rate("r_frame_rate"))
        .unwrap_or((25, 1));
    let number = |v: Option<&Value>| -> Option<f64> {
        let v = v?;
        v.as_f64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
    };
    let duration = number(video.get("duration"))
        .or_else(|| number(json.pointer("/format/duration")))
        .filter(|d| d.is_finite() && *d > 0.0);
    let frames = number(video.get("nb_frames"))
        .map(|n| n as u64)
        .filter(|&n| n > 0)
        .or_else(|| duration.map(|d| (d * fps.0 as f64 / fps.1 as f64).round() as u64));
    Some(ClipInfo {
        width,
        height,
        fps,
        frames,
        duration,
        audio,
    })
}

/// Raw frames coming out of ffmpeg.
pub struct Decoder {
    child: Child,
    stdout: ChildStdout,
    stderr: Option<JoinHandle<Vec<u8>>>,
    frame_bytes: usize,
    input: PathBuf,
}

impl Decoder {
    /// Fills `frame` (width x height x 3 bytes) with the next frame; `false` at the end.
    pub fn next_frame(&mut self, frame: &mut [u8]) -> Result<bool> {
        assert_eq!(frame.len(), self.frame_bytes, "a frame's bytes");
        let mut filled = 0;
        while filled < frame.len() {
            match self.stdout.read(&mut frame[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(Error::Decode {
                        path: self.input.clone(),
                        detail: e.to_string(),
                    })
                }
            }
        }
        if filled == frame.len() {
            return Ok(true);
        }
        // The end: ffmpeg must have finished well, and on a frame's boundary.
        let status = self.child.wait().map_err(|e| Error::Decode {
            path: self.input.clone(),
            detail: e.to_string(),
        })?;
        let stderr = self.stderr.take().map(join_stderr).unwrap_or_default();
        if !status.success() || filled != 0 {
            return Err(Error::Decode {
                path: self.input.clone(),
                detail: if stderr.is_empty() {
                    format!("ffmpeg stopped ({status})")
                } else {
                    stderr
                },
            });
        }
        Ok(false)
    }
}

impl Drop for Decoder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Raw frames going into ffmpeg.
pub struct Encoder {
    child: Child,
    stdin: Option<ChildStdin>,
    stderr: Option<JoinHandle<Vec<u8>>>,
    frame_bytes: usize,
    output: PathBuf,
}

impl Encoder {
    pub fn write_frame(&mut self, frame: &[u8]) -> Result<()> {
        assert_eq!(frame.len(), self.frame_bytes, "a frame's bytes");
        let stdin = self.stdin.as_mut().expect("not finished");
        if stdin.write_all(frame).is_err() {
            // ffmpeg stopped reading: its own words say why (a full disk, say).
            return Err(self.failure());
        }
        Ok(())
    }

    /// Closes the stream and waits for ffmpeg to write the file's end.
    pub fn finish(mut self) -> Result<()> {
        drop(self.stdin.take());
        let status = self.child.wait().map_err(|e| Error::Encode {
            path: self.output.clone(),
            detail: e.to_string(),
        })?;
        if status.success() {
            Ok(())
        } else {
            Err(self.failure())
        }
    }

    fn failure(&mut self) -> Error {
        drop(self.stdin.take());
        let _ = self.child.wait();
        let stderr = self.stderr.take().map(join_stderr).unwrap_or_default();
        Error::Encode {
            path: self.output.clone(),
            detail: if stderr.is_empty() {
                "ffmpeg stopped".into()
            } else {
                stderr
            },
        }
    }
}

impl Drop for Encoder {
    fn drop(&mut self) {
        if self.stdin.is_some() {
            // Dropped unfinished (an error elsewhere): stop ffmpeg rather than leave it waiting.
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// Reads a child's stderr on a thread (so a chatty ffmpeg never blocks on a full pipe),
/// keeping its last 16 KiB.
fn collect_stderr(child: &mut Child) -> JoinHandle<Vec<u8>> {
    let mut stderr = child.stderr.take().expect("piped");
    std::thread::spawn(move || {
        let mut kept = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = stderr.read(&mut buf) {
            if n == 0 {
                break;
            }
            kept.extend_from_slice(&buf[..n]);
            if kept.len() > 16 << 10 {
                kept.drain(..kept.len() - (16 << 10));
            }
        }
        kept
    })
}

fn join_stderr(handle: JoinHandle<Vec<u8>>) -> String {
    last_line(&handle.join().unwrap_or_default())
}

/// The last non-empty line of a program's error output.
fn last_line(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
        .to_string()
}

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX)))
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn probe_reads_size_rate_length_sound_and_rotation() {
        let report = json!({
            "streams": [
                {"codec_type": "video", "width": 1920, "height": 1080,
                 "avg_frame_rate": "30000/1001", "r_frame_rate": "30000/1001",
                 "duration": "2.002", "nb_frames": "60",
                 "side_data_list": [{"rotation": -90}]},
                {"codec_type": "audio", "codec_name": "aac"}
            ],
            "format": {"duration": "2.1"}
        });
        let info = parse_probe(&report).unwrap();
        assert_eq!((info.width, info.height), (1080, 1920));
        assert_eq!(info.fps, (30000, 1001));
        assert_eq!(info.frames, Some(60));
        assert_eq!(info.audio.as_deref(), Some("aac"));
        // No frame count: from the duration; no stream duration: the container's.
        let report = json!({
            "streams": [{"codec_type": "video", "width": 64, "height": 48,
                         "avg_frame_rate": "0/0", "r_frame_rate": "10/1"}],
            "format": {"duration": "1.5"}
        });
        let info = parse_probe(&report).unwrap();
        assert_eq!(info.fps, (10, 1));
        assert_eq!(info.frames, Some(15));
        assert_eq!(info.audio, None);
        // A cover picture is not a video.
        let report = json!({"streams": [{"codec_type": "video", "width": 8, "height": 8,
            "disposition": {"attached_pic": 1}}]});
        assert!(parse_probe(&report).is_none());
    }

    #[test]
    fn containers_follow_the_extension() {
        assert_eq!(
            Container::from_path(Path::new("a/b.MP4")),
            Some(Container::H264)
        );
        assert_eq!(
            Container::from_path(Path::new("b.webm")),
            Some(Container::WebM)
        );
        assert_eq!(
            Container::from_path(Path::new("b.gif")),
            Some(Container::Gif)
        );
        assert_eq!(Container::from_path(Path::new("b.avi")), None);
        assert_eq!(
            output_extension(Path::new("dir/.out.mkv.partial")).as_deref(),
            Some("mkv")
        );
    }
}
