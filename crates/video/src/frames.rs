//! Where frames come from and go to: a video through ffmpeg, an animated GIF or a numbered PNG
//! sequence through the `image` crate (those two need no ffmpeg).

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use image::codecs::gif::{GifDecoder, GifEncoder, Repeat};
use image::{AnimationDecoder, Delay, Frame, RgbImage, RgbaImage};

use crate::error::{Error, Result};
use crate::ffmpeg::{ClipInfo, Container, Decoder, Encoder, Ffmpeg, Span};

/// One frame: `width x height` RGB, 8 bits, row by row (ffmpeg's rgb24).
#[derive(Clone, Debug, PartialEq)]
pub struct RgbFrame {
    pub width: usize,
    pub height: usize,
    pub data: Vec<u8>,
}

impl RgbFrame {
    pub fn new(width: usize, height: usize) -> RgbFrame {
        RgbFrame {
            width,
            height,
            data: vec![0; width * height * 3],
        }
    }

    /// Planar 0..1 floats, as restyle's images hold them.
    pub fn to_image(&self) -> restyle::Image {
        let n = self.width * self.height;
        let mut planes = vec![0.0f32; 3 * n];
        for (p, px) in self.data.chunks_exact(3).enumerate() {
            for c in 0..3 {
                planes[c * n + p] = px[c] as f32 / 255.0;
            }
        }
        restyle::Image::from_tensor(restyle_engine::Tensor::from_vec(
            3,
            self.height,
            self.width,
            planes,
        ))
    }

    pub fn from_image(image: &restyle::Image) -> RgbFrame {
        let (width, height) = (image.width(), image.height());
        RgbFrame {
            width,
            height,
            data: image.to_rgb8().into_raw(),
        }
    }
}

/// What a frame source is, read before any frame.
pub enum InputKind {
    /// Anything ffmpeg reads.
    Video,
    /// An animated GIF.
    Gif,
    /// Numbered PNG files: a pattern (`frames/%05d.png`) or a folder of `.png` files.
    PngSequence(Vec<PathBuf>),
}

/// How an output is written, by its name.
#[derive(Clone, Debug, PartialEq)]
pub enum OutputKind {
    Video(Container),
    /// An animated GIF, written by the `image` crate.
    Gif,
    /// A numbered PNG sequence: the pattern (`%05d` or `%d` style).
    PngSequence(String),
}

impl OutputKind {
    pub fn from_path(path: &Path) -> Result<OutputKind> {
        let text = path.to_string_lossy();
        if text.contains('%') {
            if !text.to_ascii_lowercase().ends_with(".png") {
                return Err(Error::Request(format!(
                    "{}: a numbered sequence is written as PNG files (frames/%05d.png)",
                    path.display()
                )));
            }
            return match pattern_width(&text) {
                Some(_) => Ok(OutputKind::PngSequence(text.into_owned())),
                None => Err(Error::Request(format!(
                    "{}: the frame number is written as %d or %05d, once",
                    path.display()
                ))),
            };
        }
        match Container::from_path(path) {
            Some(Container::Gif) => Ok(OutputKind::Gif),
            Some(c) => Ok(OutputKind::Video(c)),
            None => Err(Error::Request(format!(
                "{}: restyle writes .mp4, .mov, .mkv, .webm, .gif, .webp or a PNG sequence (frames/%05d.png)",
                path.display()
            ))),
        }
    }

    pub fn needs_ffmpeg(&self) -> bool {
        matches!(self, OutputKind::Video(_))
    }
}

impl InputKind {
    pub fn of(path: &Path) -> Result<InputKind> {
        let text = path.to_string_lossy();
        if text.contains('%') {
            return Ok(InputKind::PngSequence(numbered_files(&text)?));
        }
        if path.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(|e| Error::Request(format!("cannot read {}: {e}", path.display())))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("png")))
                .collect();
            files.sort();
            if files.is_empty() {
                return Err(Error::Request(format!(
                    "{} has no .png frames",
                    path.display()
                )));
            }
            return Ok(InputKind::PngSequence(files));
        }
        if !path.is_file() {
            return Err(Error::Request(format!(
                "cannot read {}: no such file",
                path.display()
            )));
        }
        let is_gif = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("gif"));
        Ok(if is_gif {
            InputKind::Gif
        } else {
            InputKind::Video
        })
    }
}

/// The digits a `%d` / `%05d` pattern asks for (0: as many as needed).
fn pattern_width(pattern: &str) -> Option<usize> {
    let at = pattern.find('%')?;
    let rest = &pattern[at + 1..];
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    if !rest[digits.len()..].starts_with('d') || rest[digits.len() + 1..].contains('%') {
        return None;
    }
    Some(digits.parse().unwrap_or(0))
}

/// The file of frame `index` (from 1, as ffmpeg numbers them) of a pattern.
pub fn numbered(pattern: &str, index: usize) -> PathBuf {
    let at = pattern.find('%').expect("checked pattern");
    let width = pattern_width(pattern).expect("checked pattern");
    let rest = &pattern[at + 1..];
    let after = &rest[rest.find('d').expect("checked pattern") + 1..];
    PathBuf::from(format!(
        "{}{index:0width$}{after}",
        &pattern[..at],
        width = width
    ))
}

/// The files of a numbered sequence, from 0 or 1 on, until one is missing.
fn numbered_files(pattern: &str) -> Result<Vec<PathBuf>> {
    if pattern_width(pattern).is_none() {
        return Err(Error::Request(format!(
            "{pattern}: the frame number is written as %d or %05d, once"
        )));
    }
    let first = if numbered(pattern, 0).is_file() { 0 } else { 1 };
    let files: Vec<PathBuf> = (first..)
        .map(|i| numbered(pattern, i))
        .take_while(|p| p.is_file())
        .collect();
    if files.is_empty() {
        return Err(Error::Request(format!(
            "{pattern}: no frames ({} not found)",
            numbered(pattern, 1).display()
        )));
    }
    Ok(files)
}

/// Frames one after the other, at the output size.
pub enum FrameSource {
    Ffmpeg(Decoder),
    /// Decoded up front: a GIF's frames are small by nature (limits in [`open_gif`]).
    Frames(std::vec::IntoIter<RgbFrame>),
    Pngs {
        files: std::vec::IntoIter<PathBuf>,
        width: usize,
        height: usize,
    },
}

impl FrameSource {
    /// Reads the next frame into `frame` (the output size); `false` at the end.
    pub fn next_into(&mut self, frame: &mut RgbFrame) -> Result<bool> {
        let next = match self {
            FrameSource::Ffmpeg(decoder) => return decoder.next_frame(&mut frame.data),
            FrameSource::Frames(frames) => frames.next(),
            FrameSource::Pngs {
                files,
                width,
                height,
            } => match files.next() {
                None => None,
                Some(path) => {
                    let image =
                        restyle::io::load_image(&path, restyle::io::ImageLimits::default())?;
                    Some(RgbFrame::from_image(&image.resized(*width, *height)))
                }
            },
        };
        match next {
            Some(f) => {
                *frame = f;
                Ok(true)
            }
            None => Ok(false),
        }
    }
}

/// The most a GIF may hold, decoded: 2 GB of frames is a decompression bomb, not a clip.
const GIF_MAX_BYTES: usize = 1 << 30;

/// A GIF's frames (composited as shown), its size and its frame rate (from the median delay).
pub fn open_gif(path: &Path) -> Result<(Vec<RgbaImage>, (u32, u32))> {
    let file = File::open(path)
        .map_err(|e| Error::Request(format!("cannot read {}: {e}", path.display())))?;
    let not_gif = |e: image::ImageError| Error::NotAVideo {
        path: path.to_path_buf(),
        detail: e.to_string(),
    };
    let decoder = GifDecoder::new(BufReader::new(file)).map_err(not_gif)?;
    let mut frames = Vec::new();
    let mut delays = Vec::new();
    let mut bytes = 0usize;
    for frame in decoder.into_frames() {
        let frame = frame.map_err(not_gif)?;
        let (n, d) = frame.delay().numer_denom_ms();
        delays.push(if n == 0 { 100.0 } else { n as f64 / d as f64 });
        let buffer = frame.into_buffer();
        bytes += buffer.as_raw().len();
        if bytes > GIF_MAX_BYTES {
            return Err(Error::NotAVideo {
                path: path.to_path_buf(),
                detail: "its frames decode to more than 1 GiB".into(),
            });
        }
        frames.push(buffer);
    }
    if frames.is_empty() {
        return Err(Error::NotAVideo {
            path: path.to_path_buf(),
            detail: "it has no frames".into(),
        });
    }
    delays.sort_by(f64::total_cmp);
    // Browsers show delays under 20 ms as 100 ms; so do we.
    let delay = match delays[delays.len() / 2] {
        d if d < 20.0 => 100.0,
        d => d,
    };
    Ok((frames, ((100_000.0 / delay).round() as u32, 100)))
}

/// What [`open_source`] found out about the input.
pub struct SourceInfo {
    pub kind: InputKind,
    pub info: ClipInfo,
    /// A GIF's frames, decoded while probing it.
    pub gif_frames: Option<Vec<RgbaImage>>,
}

/// Probes `input`: its size, frame rate, length and sound. `fps` is a PNG sequence's frame rate.
pub fn probe_source(input: &Path, ffmpeg: Option<&Ffmpeg>, fps: (u32, u32)) -> Result<SourceInfo> {
    match InputKind::of(input)? {
        InputKind::Video => {
            let ffmpeg = ffmpeg.ok_or_else(|| {
                Error::FfmpegMissing(format!(
                    "reading {} needs ffmpeg, which is not on PATH: {}",
                    input.display(),
                    crate::ffmpeg::INSTALL_HINT
                ))
            })?;
            let info = ffmpeg.probe(input)?;
            Ok(SourceInfo {
                kind: InputKind::Video,
                info,
                gif_frames: None,
            })
        }
        InputKind::Gif => {
            let (frames, fps) = open_gif(input)?;
            let info = ClipInfo {
                width: frames[0].width() as usize,
                height: frames[0].height() as usize,
                fps,
                frames: Some(frames.len() as u64),
                duration: Some(frames.len() as f64 * fps.1 as f64 / fps.0 as f64),
                audio: None,
            };
            Ok(SourceInfo {
                kind: InputKind::Gif,
                info,
                gif_frames: Some(frames),
            })
        }
        InputKind::PngSequence(files) => {
            let (w, h) =
                restyle::io::image_dimensions(&files[0], restyle::io::ImageLimits::default())?;
            let info = ClipInfo {
                width: w,
                height: h,
                fps,
                frames: Some(files.len() as u64),
                duration: Some(files.len() as f64 * fps.1 as f64 / fps.0 as f64),
                audio: None,
            };
            Ok(SourceInfo {
                kind: InputKind::PngSequence(files),
                info,
                gif_frames: None,
            })
        }
    }
}

/// Opens the frames of `span`, skipping the first `skip` of them, at `width x height`.
pub fn open_source(
    input: &Path,
    source: SourceInfo,
    ffmpeg: Option<&Ffmpeg>,
    span: Span,
    skip: usize,
    (width, height): (usize, usize),
) -> Result<FrameSource> {
    let fps = source.info.fps_f64();
    let first = (span.start.unwrap_or(0.0) * fps).round() as usize + skip;
    let count = span
        .duration
        .map(|d| (d * fps).round().max(1.0) as usize)
        .map(|n| n.saturating_sub(skip));
    Ok(match source.kind {
        InputKind::Video => {
            let ffmpeg = ffmpeg.expect("probed with ffmpeg");
            let mut decoder = ffmpeg.decode(input, span, width, height)?;
            // Frames already painted are decoded and dropped rather than sought: a seek lands
            // on a keyframe and its time on a frame only within rounding.
            let mut frame = vec![0u8; width * height * 3];
            for _ in 0..skip {
                if !decoder.next_frame(&mut frame)? {
                    break;
                }
            }
            FrameSource::Ffmpeg(decoder)
        }
        InputKind::Gif => {
            let frames: Vec<RgbFrame> = source
                .gif_frames
                .expect("decoded while probing")
                .into_iter()
                .skip(first)
                .take(count.unwrap_or(usize::MAX))
                .map(|rgba| {
                    let rgb: RgbImage = image::DynamicImage::ImageRgba8(rgba).to_rgb8();
                    let image = restyle::Image::from_dynamic(&image::DynamicImage::ImageRgb8(rgb));
                    RgbFrame::from_image(&image.resized(width, height))
                })
                .collect();
            FrameSource::Frames(frames.into_iter())
        }
        InputKind::PngSequence(files) => FrameSource::Pngs {
            files: files
                .into_iter()
                .skip(first)
                .take(count.unwrap_or(usize::MAX))
                .collect::<Vec<_>>()
                .into_iter(),
            width,
            height,
        },
    })
}

/// Painted frames going out.
pub enum FrameSink {
    Ffmpeg(Encoder),
    Gif {
        encoder: GifEncoder<CheckedWriter>,
        delay: Delay,
        /// The first error writing the file, the GIF's end included (the encoder writes its
        /// trailer when dropped, where it cannot report one).
        error: std::sync::Arc<std::sync::Mutex<Option<std::io::Error>>>,
        path: PathBuf,
    },
    Pngs {
        pattern: String,
        next: usize,
    },
}

impl FrameSink {
    pub fn gif(path: &Path, fps: (u32, u32)) -> Result<FrameSink> {
        let file = File::create(path).map_err(|e| Error::Output {
            path: path.to_path_buf(),
            detail: e.to_string(),
        })?;
        let error = std::sync::Arc::new(std::sync::Mutex::new(None));
        let writer = CheckedWriter {
            inner: std::io::BufWriter::new(file),
            error: error.clone(),
        };
        let mut encoder = GifEncoder::new_with_speed(writer, 10);
        encoder
            .set_repeat(Repeat::Infinite)
            .map_err(|e| Error::Output {
                path: path.to_path_buf(),
                detail: e.to_string(),
            })?;
        let delay = Delay::from_numer_denom_ms(1000 * fps.1, fps.0.max(1));
        Ok(FrameSink::Gif {
            encoder,
            delay,
            error,
            path: path.to_path_buf(),
        })
    }

    /// A PNG sequence whose next frame is number `next` (from 1).
    pub fn pngs(pattern: &str, next: usize) -> FrameSink {
        FrameSink::Pngs {
            pattern: pattern.to_string(),
            next,
        }
    }

    pub fn write(&mut self, frame: &RgbFrame) -> Result<()> {
        match self {
            FrameSink::Ffmpeg(encoder) => encoder.write_frame(&frame.data),
            FrameSink::Gif {
                encoder,
                delay,
                path,
                ..
            } => {
                let rgba = image::DynamicImage::ImageRgb8(
                    RgbImage::from_raw(frame.width as u32, frame.height as u32, frame.data.clone())
                        .expect("sized frame"),
                )
                .to_rgba8();
                encoder
                    .encode_frame(Frame::from_parts(rgba, 0, 0, *delay))
                    .map_err(|e| Error::Output {
                        path: path.clone(),
                        detail: e.to_string(),
                    })
            }
            FrameSink::Pngs { pattern, next } => {
                let path = numbered(pattern, *next);
                let image =
                    RgbImage::from_raw(frame.width as u32, frame.height as u32, frame.data.clone())
                        .expect("sized frame");
                let mut bytes = Vec::new();
                image::DynamicImage::ImageRgb8(image)
                    .write_to(
                        &mut std::io::Cursor::new(&mut bytes),
                        image::ImageFormat::Png,
                    )
                    .map_err(|e| Error::Output {
                        path: path.clone(),
                        detail: e.to_string(),
                    })?;
                restyle::io::write_atomically(&path, &bytes).map_err(|e| Error::Output {
                    path: path.clone(),
                    detail: e.to_string(),
                })?;
                *next += 1;
                Ok(())
            }
        }
    }

    /// Writes what is left (the file's end) and closes.
    pub fn finish(self) -> Result<()> {
        match self {
            FrameSink::Ffmpeg(encoder) => encoder.finish(),
            FrameSink::Gif {
                encoder,
                error,
                path,
                ..
            } => {
                drop(encoder);
                match error.lock().expect("not poisoned").take() {
                    Some(e) => Err(Error::Output {
                        path,
                        detail: e.to_string(),
                    }),
                    None => Ok(()),
                }
            }
            FrameSink::Pngs { .. } => Ok(()),
        }
    }
}

/// A file writer that keeps its first error for later, and flushes when dropped.
pub struct CheckedWriter {
    inner: std::io::BufWriter<File>,
    error: std::sync::Arc<std::sync::Mutex<Option<std::io::Error>>>,
}

impl CheckedWriter {
    fn keep<T>(&self, result: std::io::Result<T>) -> std::io::Result<T> {
        if let Err(e) = &result {
            let mut slot = self.error.lock().expect("not poisoned");
            if slot.is_none() {
                *slot = Some(std::io::Error::new(e.kind(), e.to_string()));
            }
        }
        result
    }
}

impl std::io::Write for CheckedWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let r = self.inner.write(buf);
        self.keep(r)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let r = self.inner.flush();
        self.keep(r)
    }
}

impl Drop for CheckedWriter {
    fn drop(&mut self) {
        use std::io::Write;
        let r = self
            .inner
            .flush()
            .and_then(|()| self.inner.get_ref().sync_all());
        let _ = self.keep(r);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_number_frames_as_ffmpeg_does() {
        assert_eq!(numbered("out/%05d.png", 7), PathBuf::from("out/00007.png"));
        assert_eq!(numbered("f%d.png", 12), PathBuf::from("f12.png"));
        assert!(OutputKind::from_path(Path::new("a/%05d.png")).is_ok());
        assert!(OutputKind::from_path(Path::new("a/%05x.png")).is_err());
        assert!(OutputKind::from_path(Path::new("a/%d-%d.png")).is_err());
        assert!(OutputKind::from_path(Path::new("a/%d.jpg")).is_err());
        assert_eq!(
            OutputKind::from_path(Path::new("x.gif")).unwrap(),
            OutputKind::Gif
        );
        assert!(OutputKind::from_path(Path::new("x.avi")).is_err());
    }

    #[test]
    fn frames_round_trip_through_planar_floats() {
        let mut frame = RgbFrame::new(3, 2);
        for (i, b) in frame.data.iter_mut().enumerate() {
            *b = (i * 13 % 256) as u8;
        }
        assert_eq!(RgbFrame::from_image(&frame.to_image()), frame);
    }
}
