//! Pieces every subcommand shares: checking numbers, loading the network
//! and images, Ctrl-C handling.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use restyle::{io, Image};

use crate::args::RunArgs;

/// A count that must be at least `min`.
pub fn positive(name: &str, value: i64, min: i64) -> Result<usize> {
    if value < min {
        bail!("{name} must be at least {min}, not {value}");
    }
    Ok(value as usize)
}

/// Uses `--threads` for the whole process.
pub fn configure_threads(run: &RunArgs) -> Result<()> {
    configure_threads_count(run.threads)
}

/// `threads` worker threads for the whole process (`None`: one a core).
pub fn configure_threads_count(threads: Option<usize>) -> Result<()> {
    if let Some(n) = threads {
        if n == 0 {
            bail!("threads must be at least 1");
        }
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()
            .context("cannot start worker threads")?;
    }
    Ok(())
}

pub fn load_image(path: &Path, role: &str) -> Result<Image> {
    io::load_image(path, io::ImageLimits::default())
        .with_context(|| format!("cannot use the {role} image"))
}

/// The first Ctrl-C asks the run to stop after the current step (the image
/// so far is kept); a second one quits at once.
pub fn interrupt_flag() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let handler_flag = flag.clone();
    let _ = ctrlc::set_handler(move || {
        if handler_flag.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!(
            "\nrestyle: interrupted; finishing the current step (press Ctrl-C again to quit now)"
        );
    });
    flag
}

/// The most memory this process has held, from the kernel's accounting
/// (Linux only).
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
