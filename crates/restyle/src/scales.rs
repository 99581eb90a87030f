//! Coarse-to-fine: large outputs are optimised first at a small size, and
//! each result, enlarged, starts the next size. Structures then form at the
//! scale of the whole picture, and the expensive full-size steps only refine
//! (as crowsonkb's style-transfer-pytorch does, stepping by sqrt 2).

use restyle_image::fit_long_edge;

/// Ratio between consecutive scales.
pub const SCALE_STEP: f64 = std::f64::consts::SQRT_2;

/// Outputs up to this long edge are optimised at one size; larger ones go
/// coarse-to-fine from here.
pub const AUTO_START_SIZE: usize = 512;

/// How a run's sizes are chosen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScaleSchedule {
    /// Long edge of the first scale; `None`: [`AUTO_START_SIZE`], or the
    /// one `scales` implies.
    pub start_size: Option<usize>,
    /// Number of scales; `None`: as many sqrt-2 steps as fit between the
    /// start size and the output size (1 for outputs up to the start size).
    pub scales: Option<usize>,
    /// Steps at each scale after the first; `None`: a quarter of the first
    /// scale's. Each later scale starts from the previous result enlarged,
    /// so it only refines detail, and its steps cost 2x, 4x, ... the first
    /// scale's (as jcjohnson's multires recipe, fewer steps at the top).
    pub refine_iterations: Option<usize>,
}

/// Default steps at each later scale, for `iterations` at the first. A
/// quarter: with a third, a 1024 px picture takes longer than the 3 minutes
/// aimed for, and the later scales only refine detail, so fewer steps there
/// cost little.
pub fn default_refine_iterations(iterations: usize) -> usize {
    iterations.div_ceil(4)
}

/// One size of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scale {
    pub width: usize,
    pub height: usize,
    pub iterations: usize,
}

impl Scale {
    pub fn pixels(&self) -> usize {
        self.width * self.height
    }
}

impl ScaleSchedule {
    /// Long edges from coarse to fine, ending at `size`.
    pub fn long_edges(&self, size: usize) -> Vec<usize> {
        let count = match (self.scales, self.start_size) {
            (Some(n), _) => n.max(1),
            (None, start) => {
                let start = start.unwrap_or(AUTO_START_SIZE).max(1);
                if size <= start {
                    1
                } else {
                    // Steps of sqrt 2 from start up to size, the last shortened.
                    1 + ((size as f64 / start as f64).ln() / SCALE_STEP.ln()).ceil() as usize
                }
            }
        };
        if count == 1 {
            return vec![size];
        }
        let start = match (self.start_size, self.scales) {
            (Some(s), _) => s.min(size) as f64,
            (None, Some(n)) => size as f64 / SCALE_STEP.powi(n as i32 - 1),
            (None, None) => AUTO_START_SIZE as f64,
        };
        // Geometric from start to size in `count` sizes.
        let ratio = (size as f64 / start).powf(1.0 / (count - 1) as f64);
        let mut edges: Vec<usize> = (0..count)
            .map(|k| (start * ratio.powi(k as i32)).round() as usize)
            .collect();
        *edges.last_mut().expect("count >= 2") = size;
        edges.dedup();
        edges
    }

    /// The sizes of a run on a `width x height` content image: `iterations`
    /// steps at the first, the refinement steps at each later one.
    pub fn plan(&self, width: usize, height: usize, size: usize, iterations: usize) -> Vec<Scale> {
        let refine = self
            .refine_iterations
            .unwrap_or_else(|| default_refine_iterations(iterations));
        self.long_edges(size)
            .into_iter()
            .enumerate()
            .map(|(k, edge)| {
                let (w, h) = fit_long_edge(width, height, edge);
                Scale {
                    width: w,
                    height: h,
                    iterations: if k == 0 { iterations } else { refine },
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_outputs_use_one_scale() {
        assert_eq!(ScaleSchedule::default().long_edges(512), vec![512]);
        assert_eq!(ScaleSchedule::default().long_edges(300), vec![300]);
    }

    #[test]
    fn large_outputs_step_by_sqrt2_from_the_start_size() {
        assert_eq!(
            ScaleSchedule::default().long_edges(1024),
            vec![512, 724, 1024]
        );
        assert_eq!(
            ScaleSchedule::default().long_edges(2048),
            vec![512, 724, 1024, 1448, 2048]
        );
        // Not a power of sqrt 2: the steps are evened out, the last is exact.
        let edges = ScaleSchedule::default().long_edges(900);
        assert_eq!(edges, vec![512, 679, 900]);
    }

    #[test]
    fn start_size_and_scale_count_can_be_given() {
        let s = ScaleSchedule {
            start_size: Some(128),
            ..Default::default()
        };
        assert_eq!(s.long_edges(512), vec![128, 181, 256, 362, 512]);
        let s = ScaleSchedule {
            scales: Some(3),
            ..Default::default()
        };
        assert_eq!(s.long_edges(512), vec![256, 362, 512]);
        let s = ScaleSchedule {
            start_size: Some(200),
            scales: Some(2),
            ..Default::default()
        };
        assert_eq!(s.long_edges(800), vec![200, 800]);
        let s = ScaleSchedule {
            scales: Some(1),
            ..Default::default()
        };
        assert_eq!(s.long_edges(2048), vec![2048]);
    }

    #[test]
    fn a_start_size_above_the_output_means_one_scale() {
        let s = ScaleSchedule {
            start_size: Some(1024),
            ..Default::default()
        };
        assert_eq!(s.long_edges(512), vec![512]);
    }

    #[test]
    fn plans_keep_the_aspect_ratio() {
        let plan = ScaleSchedule::default().plan(1024, 768, 1024, 10);
        assert_eq!(
            plan.iter().map(|s| (s.width, s.height)).collect::<Vec<_>>(),
            vec![(512, 384), (724, 543), (1024, 768)]
        );
    }

    #[test]
    fn later_scales_refine_with_fewer_steps() {
        let steps = |s: ScaleSchedule, iterations| {
            s.plan(1024, 768, 1024, iterations)
                .iter()
                .map(|s| s.iterations)
                .collect::<Vec<_>>()
        };
        assert_eq!(steps(ScaleSchedule::default(), 300), vec![300, 75, 75]);
        assert_eq!(steps(ScaleSchedule::default(), 10), vec![10, 3, 3]);
        assert_eq!(
            steps(
                ScaleSchedule {
                    refine_iterations: Some(7),
                    ..Default::default()
                },
                300
            ),
            vec![300, 7, 7]
        );
        // One scale: the iterations asked for.
        assert_eq!(
            steps(
                ScaleSchedule {
                    scales: Some(1),
                    ..Default::default()
                },
                300
            ),
            vec![300]
        );
    }
}
