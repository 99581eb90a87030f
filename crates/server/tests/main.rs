//! The server's end-to-end tests in one test binary, a module a file: a
//! binary of its own for each would compile the server's, tokio's and
//! reqwest's code into each again (most of what building the tests took).

mod api;
mod browser;
mod errors;
mod fair;
mod fast;
mod jobs;
mod load;
mod privacy;
mod refusals;
mod regions;
mod retention;
mod token;
mod video;
mod wire;
