//! Where results go, checked before any work starts: a run never
//! overwrites one of its inputs, and never replaces an existing file
//! unless asked (`--overwrite`).

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use restyle::io::OutputType;

/// The files a run will write.
pub struct OutputPlan {
    pub output: PathBuf,
    /// `(step, path)` for `--save-every`.
    pub intermediates: Vec<(usize, PathBuf)>,
}

impl OutputPlan {
    /// Plans `output` and, with `save_every`, the numbered intermediates
    /// `STEM_0100.EXT` for a run of `steps` steps.
    pub fn new(output: &Path, save_every: Option<usize>, steps: usize) -> Self {
        let mut intermediates = Vec::new();
        if let Some(every) = save_every {
            let digits = steps.to_string().len().max(4);
            let stem = output
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let ext = output
                .extension()
                .map(|e| e.to_string_lossy().into_owned())
                .unwrap_or_default();
            for step in (every..steps).step_by(every) {
                intermediates.push((
                    step,
                    output.with_file_name(format!("{stem}_{step:0digits$}.{ext}")),
                ));
            }
        }
        Self {
            output: output.to_path_buf(),
            intermediates,
        }
    }

    pub fn intermediate_for(&self, step: usize) -> Option<&Path> {
        self.intermediates
            .iter()
            .find(|(s, _)| *s == step)
            .map(|(_, p)| p.as_path())
    }

    /// Refuses unknown image types, outputs that are inputs, missing
    /// directories and, without `overwrite`, existing files.
    pub fn check(&self, inputs: &[&Path], overwrite: bool) -> Result<()> {
        OutputType::from_path(&self.output)?;
        if let Some(dir) = self.output.parent().filter(|d| !d.as_os_str().is_empty()) {
            if !dir.is_dir() {
                bail!(
                    "cannot write {}: directory {} does not exist",
                    self.output.display(),
                    dir.display()
                );
            }
        }
        let all = std::iter::once(self.output.as_path())
            .chain(self.intermediates.iter().map(|(_, p)| p.as_path()));
        for path in all {
            for input in inputs {
                if same_file(path, input) {
                    bail!(
                        "refusing to write {}: it is one of the inputs",
                        path.display()
                    );
                }
            }
            if !overwrite && path.exists() {
                bail!(
                    "{} already exists; choose another name or pass --overwrite (-y) to replace it",
                    path.display()
                );
            }
        }
        Ok(())
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}
