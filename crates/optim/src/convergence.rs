//! When to stop: a relative-decrease test over a window of steps.
//!
//! Style losses fall fast at first and then creep down for hundreds of
//! steps while the picture no longer changes visibly. Watching the
//! objective over a window, rather than step by step, ignores the single
//! steps where a line search barely moves and stops only once a whole
//! stretch of steps has stopped paying.

use std::collections::VecDeque;

/// Stops an optimisation once its value fell by less than `tolerance`
/// (relative to the value) over the last `window` steps.
#[derive(Clone, Debug)]
pub struct Convergence {
    window: usize,
    tolerance: f64,
    /// The last `window + 1` values, oldest first.
    values: VecDeque<f64>,
}

impl Convergence {
    /// `window`: steps the decrease is measured over (at least 1);
    /// `tolerance`: the relative decrease below which the run has converged.
    pub fn new(window: usize, tolerance: f64) -> Self {
        let window = window.max(1);
        Self {
            window,
            tolerance,
            values: VecDeque::with_capacity(window + 1),
        }
    }

    pub fn window(&self) -> usize {
        self.window
    }

    pub fn tolerance(&self) -> f64 {
        self.tolerance
    }

    /// Records the objective after one more step.
    pub fn record(&mut self, value: f64) {
        if self.values.len() == self.window + 1 {
            self.values.pop_front();
        }
        self.values.push_back(value);
    }

    /// `(f[k - window] - f[k]) / |f[k - window]|`, once `window` steps have
    /// been recorded after the first value.
    pub fn relative_decrease(&self) -> Option<f64> {
        if self.values.len() < self.window + 1 {
            return None;
        }
        let (old, new) = (self.values[0], self.values[self.window]);
        Some(if old == 0.0 {
            0.0
        } else {
            (old - new) / old.abs()
        })
    }

    /// The value has stopped falling: the decrease over the window is below
    /// the tolerance (a rise counts as no decrease).
    pub fn converged(&self) -> bool {
        self.relative_decrease()
            .is_some_and(|d| d < self.tolerance || !d.is_finite())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn undecided_until_the_window_is_full() {
        let mut c = Convergence::new(3, 0.01);
        for v in [1.0, 1.0, 1.0] {
            c.record(v);
            assert_eq!(c.relative_decrease(), None);
            assert!(!c.converged());
        }
        c.record(1.0);
        assert_eq!(c.relative_decrease(), Some(0.0));
        assert!(c.converged());
    }

    #[test]
    fn measures_over_the_window_only() {
        let mut c = Convergence::new(2, 0.05);
        for v in [100.0, 10.0, 9.0, 8.9] {
            c.record(v);
        }
        // 10 -> 8.9 over the last two steps: 11%, still falling.
        assert!((c.relative_decrease().unwrap() - 0.11).abs() < 1e-12);
        assert!(!c.converged());
        c.record(8.8);
        // 9 -> 8.8: 2.2%, below 5%.
        assert!(c.converged());
    }

    #[test]
    fn a_rise_counts_as_converged() {
        let mut c = Convergence::new(1, 1e-6);
        c.record(1.0);
        c.record(1.5);
        assert!(c.relative_decrease().unwrap() < 0.0);
        assert!(c.converged());
    }
}
