//! `playbill graph`: the relation graph around an entity, or of the whole catalog, as DOT or
//! Mermaid.

use std::process::ExitCode;

/// Arguments of `playbill graph`.
#[derive(Debug, clap::Args)]
pub struct GraphArgs {}

pub fn command(_args: &GraphArgs) -> ExitCode {
    eprintln!("playbill graph: not implemented yet");
    ExitCode::FAILURE
}
