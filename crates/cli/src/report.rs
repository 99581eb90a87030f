//! Turns the library's progress into what the user sees: a progress bar on
//! a terminal, JSON lines with `--json`, and the `--save-every` images.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use restyle::{io, Flow, Observer, Progress};
use serde_json::json;

use crate::outputs::OutputPlan;

pub struct Reporter<'a> {
    bar: Option<ProgressBar>,
    json: bool,
    plan: Option<&'a OutputPlan>,
    interrupted: Arc<AtomicBool>,
    /// The first failure to save an intermediate image; it stops the run.
    pub error: Option<anyhow::Error>,
}

impl<'a> Reporter<'a> {
    /// A progress bar appears only when standard error is a terminal and
    /// neither `quiet` nor `json` was asked for.
    pub fn new(
        total: usize,
        quiet: bool,
        json: bool,
        plan: Option<&'a OutputPlan>,
        interrupted: Arc<AtomicBool>,
    ) -> Self {
        let bar = (!quiet && !json && std::io::stderr().is_terminal()).then(|| {
            let bar =
                ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(
                    "{elapsed_precise} [{bar:30.cyan/blue}] {pos}/{len} {msg}",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            bar.enable_steady_tick(Duration::from_millis(250));
            bar
        });
        Self {
            bar,
            json,
            plan,
            interrupted,
            error: None,
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }

    pub fn json_event(&self, event: serde_json::Value) {
        if self.json {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{event}");
            let _ = out.flush();
        }
    }
}

pub fn format_duration(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, s % 3600 / 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

impl Observer for Reporter<'_> {
    fn on_step(&mut self, p: &Progress<'_>) -> Flow {
        let losses = p.losses;
        if let Some(bar) = &self.bar {
            bar.set_position(p.step as u64);
            let eta = p.eta.map(format_duration).unwrap_or_default();
            // How much the last steps still lowered the loss: the size moves
            // on once this falls below --stop-tolerance.
            let falling = p
                .relative_decrease
                .map(|d| format!(", falling {:.1}%", 100.0 * d))
                .unwrap_or_default();
            bar.set_message(format!(
                "loss {:.4} (content {:.4}, style {:.4}, tv {:.4}{falling}) ETA {eta}",
                losses.total(),
                losses.content,
                losses.style,
                losses.tv
            ));
        }
        self.json_event(json!({
            "event": "step",
            "step": p.step,
            "total": p.total_steps,
            "stage": p.stage,
            "stages": p.stages,
            "width": p.size().0,
            "height": p.size().1,
            "loss": losses.total(),
            "content": losses.content,
            "style": losses.style,
            "tv": losses.tv,
            "evaluations": p.evaluations,
            "relative_decrease": p.relative_decrease,
            "elapsed_s": p.elapsed.as_secs_f64(),
            "eta_s": p.eta.map(|d| d.as_secs_f64()),
        }));
        if let Some(path) = self.plan.and_then(|plan| plan.intermediate_for(p.step)) {
            match io::save_image(&p.image(), path) {
                Ok(()) => {
                    self.json_event(json!({"event": "saved", "step": p.step, "path": path.display().to_string()}));
                }
                Err(e) => {
                    self.error = Some(e.into());
                    return Flow::Stop;
                }
            }
        }
        if self.interrupted.load(Ordering::SeqCst) {
            return Flow::Stop;
        }
        Flow::Continue
    }
}
