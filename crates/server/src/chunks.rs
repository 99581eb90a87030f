//! A long clip in chunks: a video job whose clip is longer than [`LONG_CLIP_SECONDS`] is
//! split into chunks of about [`CHUNK_SECONDS`], each a job of its own in the queue, so that
//! several worker slots (and `restyle worker` processes on PostgreSQL) paint them at once; the
//! worker that took the clip's job takes chunks too, waits for the others, and joins them
//! ([`join`]) with the clip's sound into the job's result.
//!
//! Each chunk after the first starts [`WARM_UP_FRAMES`] early, so that its temporal state (the
//! carried painted frame, the fast network's statistics) is warm at its first frame; the last
//! [`FADE_FRAMES`] before a seam, painted by both chunks, are cross-faded from the one to the
//! other. Measured (`bench/chunks.py`, Lai et al.'s warping error): a cold seam 0.0040 against
//! 0.0005 for the frames around it; warm and faded 0.0006, as the unbroken run's 0.0006.

use std::path::Path;

use restyle_video::ffmpeg::EncodeSetup;
use restyle_video::{Container, Ffmpeg, Span};
use sha2::{Digest, Sha256};

use crate::jobs::{Chunk, JobId, JobSettings};

/// A clip longer than this is painted in chunks.
pub const LONG_CLIP_SECONDS: f64 = 12.0;
/// About how long each chunk is.
pub const CHUNK_SECONDS: f64 = 8.0;
/// Frames a chunk paints before its first, to warm its temporal state.
pub const WARM_UP_FRAMES: u64 = 8;
/// Frames before a seam cross-faded from the chunk before to the next (at most the warm-up).
pub const FADE_FRAMES: u64 = 4;

/// The chunks of a clip of `frames` at `fps` (one when it is not long): (first, frames).
pub fn split(frames: u64, fps: f64) -> Vec<(u64, u64)> {
    if (frames as f64) <= LONG_CLIP_SECONDS * fps || frames < 4 * WARM_UP_FRAMES {
        return vec![(0, frames)];
    }
    let count = ((frames as f64 / (CHUNK_SECONDS * fps)).round() as u64).max(2);
    let each = frames.div_ceil(count);
    (0..count)
        .map(|i| (i * each, each.min(frames - i * each)))
        .filter(|&(_, n)| n > 0)
        .collect()
}

/// The chunks of a job's clip when it is to be painted in chunks (a clip's job, long, and not a
/// chunk itself).
pub fn to_conduct(settings: &JobSettings) -> Option<Vec<Chunk>> {
    let clip = settings.clip.as_ref()?;
    if clip.chunk.is_some() {
        return None;
    }
    let parts = split(clip.frames, clip.frames_per_second);
    (parts.len() > 1).then(|| {
        parts
            .into_iter()
            .enumerate()
            .map(|(index, (first, frames))| Chunk {
                parent: String::new(),
                index,
                first,
                frames,
                warm_up: first.min(WARM_UP_FRAMES),
            })
            .collect()
    })
}

/// The id of chunk `index` of job `parent`: the same every time it is asked (a conductor that
/// restarts finds the chunks already queued or painted), unguessable as the parent's.
pub fn chunk_id(parent: &JobId, index: usize) -> JobId {
    let digest = Sha256::digest(format!("{parent}/chunk/{index}").as_bytes());
    digest[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>()
        .parse()
        .expect("32 hex digits")
}

/// The part of the clip a chunk decodes: from its warm-up on. Half a frame in, so that the
/// first frame decoded is the one whose time is at or after the start.
pub fn span(chunk: &Chunk, fps: f64) -> Span {
    let from = chunk.first - chunk.warm_up;
    Span {
        start: (from > 0).then(|| (from as f64 - 0.5) / fps),
        duration: Some((chunk.warm_up + chunk.frames) as f64 / fps),
    }
}

/// Joins the painted chunks (files, in order, each with its warm-up) into `output` (MP4,
/// H.264) with the sound of `clip`, if `sound` names its codec: each chunk's warm-up is
/// dropped but for its last [`FADE_FRAMES`], which are cross-faded with the chunk before's
/// last frames. Returns the frames written.
pub fn join(
    ffmpeg: &Ffmpeg,
    chunks: &[(&Path, &Chunk)],
    (width, height, fps): (usize, usize, (u32, u32)),
    (clip, sound): (&Path, Option<&str>),
    work: &Path,
    output: &Path,
) -> restyle_video::Result<u64> {
    let pictures = work.join("joined.mkv");
    let setup = EncodeSetup {
        container: Container::H264,
        width,
        height,
        fps,
    };
    let mut encoder = ffmpeg.encode(&pictures, &setup)?;
    let size = width * height * 3;
    // The last frames of the chunk before, held back to be cross-faded with the next's.
    let mut held: Vec<Vec<u8>> = Vec::new();
    let mut written = 0;
    for (index, (path, chunk)) in chunks.iter().enumerate() {
        let last = index + 1 == chunks.len();
        let next_fade = chunks
            .get(index + 1)
            .map_or(0, |(_, next)| FADE_FRAMES.min(next.warm_up)) as usize;
        let fade = held.len();
        let mut decoder = ffmpeg.decode(path, Span::default(), width, height)?;
        let mut frame = vec![0u8; size];
        let mut kept: Vec<Vec<u8>> = Vec::new();
        let mut n = 0u64;
        while decoder.next_frame(&mut frame)? {
            n += 1;
            let before_first = n <= chunk.warm_up;
            if before_first && n + fade as u64 <= chunk.warm_up {
                continue; // warm-up only
            }
            if before_first {
                // Cross-faded: the chunk before's frame, more of this one's each frame.
                let k = (n + fade as u64 - chunk.warm_up - 1) as usize;
                let share = (k + 1) as f32 / (fade + 1) as f32;
                let before = &held[k];
                let blended: Vec<u8> = before
                    .iter()
                    .zip(&frame)
                    .map(|(&a, &b)| (a as f32 * (1.0 - share) + b as f32 * share).round() as u8)
                    .collect();
                encoder.write_frame(&blended)?;
                written += 1;
                continue;
            }
            if n > chunk.warm_up + chunk.frames {
                break;
            }
            kept.push(frame.clone());
            // Frames not needed for the next fade are written at once.
            if last || kept.len() > next_fade {
                let out = kept.remove(0);
                encoder.write_frame(&out)?;
                written += 1;
            }
        }
        if n < chunk.warm_up + chunk.frames {
            return Err(restyle_video::Error::Decode {
                path: path.to_path_buf(),
                detail: format!(
                    "chunk {} has {n} frames, not {}",
                    chunk.index,
                    chunk.warm_up + chunk.frames
                ),
            });
        }
        held = kept;
    }
    encoder.finish()?;
    let list = work.join("joined.txt");
    std::fs::write(&list, "file 'joined.mkv'\n").map_err(|e| restyle_video::Error::Output {
        path: list.clone(),
        detail: e.to_string(),
    })?;
    let temp = work.join("joined.mp4.partial");
    ffmpeg.join(
        &list,
        &temp,
        Container::H264,
        sound.map(|codec| (clip, Span::default(), codec)),
        output,
    )?;
    std::fs::rename(&temp, output).map_err(|e| restyle_video::Error::Output {
        path: output.to_path_buf(),
        detail: e.to_string(),
    })?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_clips_are_split_into_chunks_that_cover_every_frame_once() {
        assert_eq!(split(250, 25.0), vec![(0, 250)], "10 s: one piece");
        assert_eq!(split(300, 25.0), vec![(0, 300)], "12 s: one piece");
        let parts = split(500, 25.0);
        assert_eq!(parts, vec![(0, 167), (167, 167), (334, 166)]);
        let parts = split(181, 10.0);
        assert_eq!(parts.iter().map(|p| p.1).sum::<u64>(), 181);
        for pair in parts.windows(2) {
            assert_eq!(pair[0].0 + pair[0].1, pair[1].0);
        }
    }

    #[test]
    fn a_chunk_decodes_from_its_warm_up() {
        let chunk = Chunk {
            parent: String::new(),
            index: 1,
            first: 100,
            frames: 50,
            warm_up: 8,
        };
        let span = span(&chunk, 25.0);
        assert_eq!(span.start, Some(91.5 / 25.0));
        assert_eq!(span.duration, Some(58.0 / 25.0));
        let first = Chunk {
            first: 0,
            warm_up: 0,
            ..chunk
        };
        assert_eq!(super::span(&first, 25.0).start, None);
    }

    #[test]
    fn chunk_ids_are_the_same_every_time_and_differ() {
        let parent = JobId::random();
        assert_eq!(chunk_id(&parent, 1), chunk_id(&parent, 1));
        assert_ne!(chunk_id(&parent, 1), chunk_id(&parent, 2));
        assert_ne!(chunk_id(&parent, 0), parent);
    }
}
