//! The `restyle` command: a thin layer over the `restyle` library that turns
//! arguments into settings, progress into a bar or JSON lines, and errors
//! into one readable line and an exit code (2 for bad input).

mod args;
mod common;
mod outputs;
mod reconstruct;
mod report;
mod transfer;
mod video;

use std::process::ExitCode;

use clap::Parser;

use args::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Reconstruct(args)) => reconstruct::run(args),
        Some(Command::Video(args)) => video::run(*args),
        #[cfg(feature = "serve")]
        Some(Command::Serve(args)) => restyle_server::run_serve(*args),
        #[cfg(feature = "serve")]
        Some(Command::Worker(args)) => restyle_server::run_worker(args),
        #[cfg(feature = "serve")]
        Some(Command::InstantPainter(args)) => restyle_server::run_painter(args),
        #[cfg(feature = "serve")]
        Some(Command::Site(args)) => restyle_server::browser::write_site(&args).map(|files| {
            eprintln!(
                "restyle: wrote {} files to {}",
                files.len(),
                args.dir.display()
            );
        }),
        None => transfer::run(cli.transfer),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("restyle: error: {}", one_line(&e));
            ExitCode::from(2)
        }
    }
}

/// The error and its causes, outermost first, on one line; a cause whose
/// text its parent already quotes is not repeated.
fn one_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !line.contains(&text) {
            if !line.is_empty() {
                line.push_str(": ");
            }
            line.push_str(&text);
        }
    }
    line.replace('\n', " ")
}
