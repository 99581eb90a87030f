//! The one memory estimate of a job, for both methods, counting every
//! decoded input: the photo, the paintings, the masks and the part kept.
//! The submission checks it against `--max-job-memory` before a pixel is
//! decoded, and every worker checks it against its own budget before it
//! decodes a stored job (fast jobs and `init=fast` starts included), from
//! the images' headers alone.
//!
//! A Gatys run is the library's estimate ([`restyle::memory::estimate`]:
//! the network, the targets, the photo and paintings decoded) plus the
//! masks; one that starts from the fast picture needs the larger of that
//! and the fast picture's own peak (it is painted first). A fast picture
//! is the network's activations ([`restyle_fast::memory_bytes`]), every
//! input decoded, and one painted picture per painting (regions are
//! painted once per painting, then blended).

use restyle::memory::{decoded_image_bytes, format_bytes};
use restyle::{fit_long_edge, memory};

use crate::jobs::{JobSettings, Method, Start};
use crate::limits::{Limits, MIN_SIZE};
use crate::upload;

/// A job's inputs, by their size as decoded (width, height).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Inputs {
    pub content: (usize, usize),
    pub style: (usize, usize),
    pub style_2: Option<(usize, usize)>,
    /// `mask_1`, `mask_2` and `keep`, those the job has.
    pub masks: Vec<(usize, usize)>,
}

impl Inputs {
    /// The paintings.
    pub fn styles(&self) -> Vec<(usize, usize)> {
        std::iter::once(self.style).chain(self.style_2).collect()
    }

    /// From a stored job's encoded images (their headers only).
    pub fn of_stored(
        content: &[u8],
        style: &[u8],
        regions: &[(crate::storage::ImageKind, Vec<u8>)],
    ) -> Result<Self, String> {
        // Stored images passed the submission's checks: no pixel limit here.
        let limits = Limits {
            max_pixels: u64::MAX,
            ..Limits::default()
        };
        let size = |bytes: &[u8], role: &str| {
            upload::header(bytes, role, &limits)
                .map(|h| (h.width, h.height))
                .map_err(|e| e.to_string())
        };
        let mut inputs = Self {
            content: size(content, "content")?,
            style: size(style, "style")?,
            ..Self::default()
        };
        for (kind, bytes) in regions {
            let dims = size(bytes, kind.as_str())?;
            match kind {
                crate::storage::ImageKind::Style2 => inputs.style_2 = Some(dims),
                _ => inputs.masks.push(dims),
            }
        }
        Ok(inputs)
    }
}

/// Bytes a mask takes once loaded: the decoded image, and its weights.
fn mask_bytes((w, h): (usize, usize)) -> usize {
    decoded_image_bytes(w, h) + w * h * 4
}

/// The threads a fast picture's bands are counted for: the engine uses every core.
fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The fast picture's peak at output long edge `size`.
fn fast_bytes(inputs: &Inputs, size: usize) -> usize {
    let (w, h) = fit_long_edge(inputs.content.0, inputs.content.1, size);
    let styles = inputs.styles();
    let decoded: usize = std::iter::once(inputs.content)
        .chain(styles.iter().copied())
        .map(|(w, h)| decoded_image_bytes(w, h))
        .sum::<usize>()
        + inputs.masks.iter().map(|&m| mask_bytes(m)).sum::<usize>();
    let network = restyle_fast::memory_bytes(w, h, threads()) as usize;
    // One painted picture per painting, and the blend (RGB f32 each).
    let painted = (styles.len() + 1) * w * h * 12;
    // What the picture adds to the process (the lane paints in the web
    // process, whose own baseline the Gatys estimate counts for a worker).
    network + decoded + painted
}

/// The job's estimated peak, in bytes, at output long edge `size`.
pub fn needed(settings: &JobSettings, inputs: &Inputs, size: usize) -> usize {
    match settings.method {
        Method::Fast => fast_bytes(inputs, size),
        Method::Gatys => {
            let mut s = settings.to_settings();
            s.size = size;
            let run = memory::estimate(&s, inputs.content, &inputs.styles()).total()
                + inputs.masks.iter().map(|&m| mask_bytes(m)).sum::<usize>();
            match settings.init {
                Start::Fast => run.max(fast_bytes(inputs, size)),
                _ => run,
            }
        }
    }
}

/// A job that does not fit: what it needs, the budget, the largest size that fits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TooBig {
    pub needed: usize,
    pub budget: usize,
    /// `None`: not even the smallest size fits.
    pub largest_fitting: Option<usize>,
}

impl TooBig {
    /// What to tell the submitter: `who` allows the budget ("this server"),
    /// `flag` names it (" (--max-job-memory)", or nothing).
    pub fn message(&self, who: &str, flag: &str) -> String {
        let advice = match self.largest_fitting {
            Some(px) => format!("at most size={px} fits with these settings"),
            None => "no size fits with these inputs and settings; send smaller images or lower style_scale".into(),
        };
        format!(
            "this job needs about {} of memory and {who} allows {} a job{flag}: {advice}",
            format_bytes(self.needed),
            format_bytes(self.budget)
        )
    }
}

/// Whether the job fits `budget`; if not, the largest size that does.
pub fn fits(settings: &JobSettings, inputs: &Inputs, budget: usize) -> Result<usize, TooBig> {
    let need = needed(settings, inputs, settings.size);
    if need <= budget {
        return Ok(need);
    }
    // The estimate grows with the size: the largest fitting one by bisection.
    let (mut lo, mut hi) = (MIN_SIZE, settings.size);
    let largest_fitting = if needed(settings, inputs, lo) > budget {
        None
    } else {
        while hi - lo > 1 {
            let mid = (lo + hi) / 2;
            if needed(settings, inputs, mid) <= budget {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        Some(lo)
    };
    Err(TooBig {
        needed: need,
        budget,
        largest_fitting,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(method: Method, size: usize) -> JobSettings {
        JobSettings {
            method,
            size,
            ..JobSettings::default()
        }
    }

    #[test]
    fn every_input_counts_for_both_methods() {
        let plain = Inputs {
            content: (6000, 5000),
            style: (6000, 5000),
            ..Inputs::default()
        };
        let full = Inputs {
            style_2: Some((6000, 5000)),
            masks: vec![(6000, 5000); 3],
            ..plain.clone()
        };
        for method in [Method::Fast, Method::Gatys] {
            let (a, b) = (
                needed(&job(method, 512), &plain, 512),
                needed(&job(method, 512), &full, 512),
            );
            // Four more 30-megapixel images: at least their decoded bytes.
            assert!(
                b >= a + 4 * decoded_image_bytes(6000, 5000),
                "{method:?}: {a} -> {b}"
            );
        }
    }

    #[test]
    fn the_largest_fitting_size_fits_and_the_next_does_not() {
        let inputs = Inputs {
            content: (4000, 3000),
            style: (800, 800),
            ..Inputs::default()
        };
        for method in [Method::Fast, Method::Gatys] {
            let s = job(method, 1024);
            let budget = needed(&s, &inputs, 300);
            let e = fits(&s, &inputs, budget).unwrap_err();
            let px = e.largest_fitting.unwrap();
            assert!(px >= 300 && needed(&s, &inputs, px) <= budget, "{px}");
            assert!(needed(&s, &inputs, px + 1) > budget);
            let none = fits(&s, &inputs, 1).unwrap_err();
            assert_eq!(none.largest_fitting, None);
            assert!(
                !none.message("this server", "").contains("size=1"),
                "never below 16"
            );
        }
    }
}
