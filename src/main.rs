//! The `flashcrowd` binary: parses the command line and hands over to
//! [`flashcrowd::cli`]. It holds no logic of its own.

use std::process::ExitCode;

fn main() -> ExitCode {
    flashcrowd::cli::main()
}
