//! The real `restyle` binary, run as a user would, and how it refuses.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `restyle` binary that cargo built for the CLI's tests (cargo and
/// nextest set `CARGO_BIN_EXE_restyle` when they run them).
pub fn restyle_bin() -> PathBuf {
    std::env::var_os("CARGO_BIN_EXE_restyle")
        .map(PathBuf::from)
        .expect("CARGO_BIN_EXE_restyle is set: run the CLI's tests with cargo test or nextest")
}

/// Runs `restyle ARGS` in `dir` to the end.
pub fn restyle(args: &[&str], dir: &Path) -> Output {
    Command::new(restyle_bin())
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the binary runs")
}

/// What a run printed on standard error.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts a clean refusal: exit code 2, one line on standard error that
/// mentions `needle`, and no panic (nor the hint to set RUST_BACKTRACE).
pub fn assert_refused(out: &Output, needle: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(2), "exit code; stderr: {err}");
    assert!(
        err.contains(needle),
        "stderr should mention `{needle}`: {err}"
    );
    assert!(
        !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
        "{err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
}
