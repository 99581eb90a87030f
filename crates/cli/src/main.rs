//! The `restyle` command: a thin layer over the `restyle` library that turns
//! arguments into settings, progress into a bar or JSON lines, and errors
//! into one readable line and an exit code (2 for bad input).

mod args;
mod common;
mod outputs;
mod reconstruct;
mod report;
mod transfer;

use std::process::ExitCode;

use clap::Parser;

use args::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Reconstruct(args)) => reconstruct::run(args),
        None => transfer::run(cli.transfer),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line: the error and its causes, outermost first.
            let chain: Vec<String> = e.chain().map(|c| c.to_string()).collect();
            eprintln!("restyle: error: {}", chain.join(": "));
            ExitCode::from(2)
        }
    }
}
