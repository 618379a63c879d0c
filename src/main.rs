//! The `sfsync` binary: tune the allocator, parse, set up logging, run, map
//! the outcome to an exit code.

use clap::Parser;
use sfsync::cli::Cli;
use sfsync::exit::classify;
use sfsync::{commands, output};

fn main() {
    sfsync::allocator::tune();
    let cli = Cli::parse();
    output::init_logging(cli.global.verbosity());
    let code = match commands::run(&cli) {
        Ok(exit) => exit.code(),
        Err(e) => {
            output::error(&format!("{e:#}"));
            classify(&e).code()
        }
    };
    std::process::exit(code);
}
