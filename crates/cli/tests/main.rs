//! The `restyle` command's end-to-end tests in one test binary, a module a
//! file: a binary of its own for each would compile the clients' code
//! (reqwest, tokio) into each again.

mod attempts;
mod cli;
mod decode_memory;
#[cfg(feature = "serve")]
mod fair_soak;
mod fast;
#[cfg(feature = "serve")]
mod gatys_memory;
#[cfg(feature = "serve")]
mod instant_lane;
#[cfg(feature = "serve")]
mod postgres;
mod regions;
#[cfg(feature = "serve")]
mod serve;
mod soak;
#[cfg(feature = "serve")]
mod upload_memory;
mod video;
