//! Helpers shared by restyle's tests; a dev-dependency of the other crates,
//! never published.
//!
//! Without features it has the rules of what runs ([`require_or_skip`],
//! [`full_soaks`]) and the real `restyle` binary's runs ([`cli`]). Feature
//! `images` adds the test pictures `png` and `jpeg`; `http` adds clients of a restyle
//! server (`http`), the real `restyle serve` and `restyle worker` processes
//! (`process`) and the soak driver (`soak`); `server` adds a server in the
//! test's own process (`TestServer`).

use std::io::Write as _;

pub mod cli;
#[cfg(feature = "http")]
pub mod http;
#[cfg(feature = "images")]
mod images;
#[cfg(feature = "http")]
pub mod process;
#[cfg(feature = "server")]
mod server;
#[cfg(feature = "http")]
pub mod soak;

#[cfg(feature = "images")]
pub use images::{jpeg, png};
#[cfg(feature = "server")]
pub use server::TestServer;

/// What a test does when something it needs from outside the repository
/// (a program, a fixture, a CPU feature) is missing here, `why` saying what:
/// on a developer's machine it says `skipped: WHAT: WHY` and returns false,
/// so the test can stop and pass; where every test must run
/// (`RESTYLE_REQUIRE_ALL_TESTS=1`, as CI sets it) it fails the test instead.
/// So a test reads `if !found && !require_or_skip(WHAT, WHY) { return; }`.
pub fn require_or_skip(what: &str, why: &str) -> bool {
    assert!(
        !on("RESTYLE_REQUIRE_ALL_TESTS"),
        "{what} must run (RESTYLE_REQUIRE_ALL_TESTS=1), but {why}"
    );
    // Straight to standard error, past the test harness's capture, so that
    // the skip shows when the test passes.
    let _ = writeln!(std::io::stderr(), "skipped: {what}: {why}");
    false
}

/// The soak switch: whether the soak tests run in full
/// (`RESTYLE_FULL_SOAKS=1`: hundreds of jobs, minutes each) rather than
/// their short version (tens of jobs), which runs by default and in CI.
/// Says which one runs, so that a test's output shows it.
pub fn full_soaks(what: &str) -> bool {
    let full = on("RESTYLE_FULL_SOAKS");
    let _ = writeln!(
        std::io::stderr(),
        "{what}: the {} soak{}",
        if full { "full" } else { "short" },
        if full {
            ""
        } else {
            " (RESTYLE_FULL_SOAKS=1 runs the full one)"
        }
    );
    full
}

/// Whether the environment variable `name` is `1`.
fn on(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| v == "1")
}
