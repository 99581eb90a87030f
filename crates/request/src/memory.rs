//! The one memory estimate of a request, for both methods, from the pictures' sizes alone
//! (their headers): every decoded input counted, the photo, the paintings and the masks.
//!
//! A Gatys run is the library's estimate ([`restyle::memory::estimate`]: the network, the
//! targets, the photo and paintings decoded) plus the masks; one that starts from the fast
//! picture needs the larger of that and the fast picture's own peak (it is painted first). A
//! fast picture is the network's activations ([`restyle_fast::memory_bytes`], or its tiles'),
//! every input decoded, and one painted picture per painting (regions are painted once per
//! painting, then blended).

use restyle::memory::{self, decoded_image_bytes};
use restyle::{fit_long_edge, Settings, SizedImage};
use restyle_fast::paint::MIN_STYLE_SIDE;
use restyle_fast::MIN_CONTENT_SIZE;

use crate::choices::{Init, Method};
use crate::error::{RequestError, TooBig};
use crate::plan::Plan;

/// The pictures of a request, by their size as decoded (width, height).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Inputs {
    pub content: (usize, usize),
    /// The paintings, in order.
    pub styles: Vec<(usize, usize)>,
    /// Every mask (regions, style masks, the part kept).
    pub masks: Vec<(usize, usize)>,
    /// The picture the optimisation starts from, when one is given.
    pub init: Option<(usize, usize)>,
}

/// Bytes a mask takes once loaded: the decoded image, and its weights.
fn mask_bytes((w, h): (usize, usize)) -> usize {
    decoded_image_bytes(w, h) + w * h * 4
}

impl Inputs {
    fn masks_bytes(&self) -> usize {
        self.masks.iter().map(|&m| mask_bytes(m)).sum()
    }
}

/// The engine's worker threads, each with its lowered band.
fn threads() -> usize {
    rayon::current_num_threads()
}

/// The fast picture's peak at long edge `size`.
fn fast_bytes(inputs: &Inputs, size: usize, tiling: Option<&restyle_fast::FastTiling>) -> usize {
    let (w, h) = fit_long_edge(inputs.content.0, inputs.content.1, size);
    let decoded = std::iter::once(inputs.content)
        .chain(inputs.styles.iter().copied())
        .map(|(w, h)| decoded_image_bytes(w, h))
        .sum::<usize>()
        + inputs.masks_bytes();
    let network = match tiling {
        Some(t) => t.memory_bytes(w, h, threads()),
        None => restyle_fast::memory_bytes(w, h, threads()),
    } as usize;
    // One painted picture per painting when they are blended by regions, and the blend
    // (RGB f32 each).
    let paintings = if inputs.masks.is_empty() {
        1
    } else {
        inputs.styles.len() + 1
    };
    network + decoded + paintings * w * h * 12
}

impl Plan {
    /// The run's estimated peak, in bytes, at long edge `size`.
    pub fn needed(&self, inputs: &Inputs, size: usize) -> usize {
        match self.method {
            Method::Fast => fast_bytes(inputs, size, self.fast_tiling.as_ref()),
            Method::Gatys => {
                let settings = Settings {
                    size,
                    ..self.settings.clone()
                };
                let run = memory::estimate(&settings, inputs.content, &inputs.styles).total()
                    + inputs.masks_bytes()
                    + inputs.init.map_or(0, |(w, h)| decoded_image_bytes(w, h));
                match self.init {
                    Init::Fast => run.max(fast_bytes(inputs, size, None)),
                    _ => run,
                }
            }
        }
    }

    /// Refuses, from the pictures' sizes alone, what the method cannot paint: a photo too
    /// small for the fast network at this size, a painting too small for the style network or
    /// (resized by `style_scale` at every scale) for the deepest layer the optimisation reads.
    pub fn check_sizes(&self, inputs: &Inputs) -> Result<(), RequestError> {
        if self.method == Method::Fast {
            let (w, h) = fit_long_edge(inputs.content.0, inputs.content.1, self.size);
            if w.min(h) < MIN_CONTENT_SIZE {
                return Err(RequestError::Picture(format!(
                    "the content image at size {} is {w}x{h}: the fast method needs at least {MIN_CONTENT_SIZE} pixels a side",
                    self.size
                )));
            }
        }
        if self.wants_fast_picture() {
            for (i, &(w, h)) in inputs.styles.iter().enumerate() {
                if w.min(h) < MIN_STYLE_SIDE {
                    return Err(RequestError::Picture(format!(
                        "style image {} is {w}x{h}: the fast method needs at least {MIN_STYLE_SIDE}x{MIN_STYLE_SIDE} pixels",
                        i + 1
                    )));
                }
            }
        }
        if self.method == Method::Gatys {
            let s = &self.settings;
            let (cw, ch) = inputs.content;
            for scale in s.plan(cw, ch) {
                let long = scale.width.max(scale.height);
                let edge = ((long as f32 * s.style_scale).round() as usize).max(1);
                for (i, &(w, h)) in inputs.styles.iter().enumerate() {
                    let (sw, sh) = fit_long_edge(w, h, edge);
                    s.check_size(SizedImage::Style(i + 1), sw, sh)?;
                }
            }
            let first = s.plan(cw, ch)[0];
            s.check_size(SizedImage::Output, first.width, first.height)?;
        }
        Ok(())
    }

    /// Checks the pictures' sizes ([`Plan::check_sizes`]) and that the run fits the memory
    /// budget; picks the tile size when `tile` was asked without `tile_size`, and where the
    /// fast method's tiles read their statistics. Returns the estimated peak, in bytes.
    pub fn fit(&mut self, inputs: &Inputs) -> Result<usize, RequestError> {
        self.check_sizes(inputs)?;
        let Some((budget, source)) = self.budget.clone() else {
            return Ok(self.needed(inputs, self.size));
        };
        let too_big = |needed, largest_fitting, tile| {
            RequestError::TooBig(TooBig {
                size: self.size,
                needed,
                budget,
                allowed_by: source.clone(),
                largest_fitting,
                tile,
            })
        };
        if self.method == Method::Gatys && self.settings.tiling.is_some() {
            // The library picks the tile; the masks come on top.
            let masks = inputs.masks_bytes();
            return match memory::fit(
                &mut self.settings,
                inputs.content,
                &inputs.styles,
                budget.saturating_sub(masks),
                self.auto_tile,
            ) {
                Ok(fit) => Ok(fit.needed + masks),
                Err(refused) => Err(too_big(
                    refused.needed + masks,
                    refused.largest_fitting,
                    refused.tile,
                )),
            };
        }
        if let Some(tiling) = &mut self.fast_tiling {
            // The statistics come from the whole picture at the largest size that fits (the
            // picture's own when it fits whole: then the tiles match it closely).
            let mut statistics = self.size;
            while statistics > MIN_CONTENT_SIZE && fast_bytes(inputs, statistics, None) > budget {
                statistics = statistics * 9 / 10;
            }
            tiling.statistics_size = statistics;
        }
        let needed = self.needed(inputs, self.size);
        if needed <= budget {
            return Ok(needed);
        }
        // The estimate grows with the size: the largest fitting one by bisection.
        let (mut lo, mut hi) = (self.smallest_size(), self.size);
        let largest_fitting = if lo >= hi || self.needed(inputs, lo) > budget {
            None
        } else {
            while hi - lo > 1 {
                let mid = (lo + hi) / 2;
                if self.needed(inputs, mid) <= budget {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            Some(lo)
        };
        Err(too_big(needed, largest_fitting, None))
    }

    /// The smallest size worth suggesting: what the method and the operator allow.
    fn smallest_size(&self) -> usize {
        let method = match self.method {
            Method::Fast => MIN_CONTENT_SIZE,
            Method::Gatys => self.settings.min_side(),
        };
        method.max(self.min_size)
    }
}
