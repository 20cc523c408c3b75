//! The bridge to Backstage: `playbill import` turns catalog-info.yaml files into Playbill
//! manifests, `playbill export` turns the catalog back into Backstage entities.

use std::process::ExitCode;

/// Arguments of `playbill import`.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {}

/// Arguments of `playbill export`.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {}

pub fn import_command(_args: &ImportArgs) -> ExitCode {
    eprintln!("playbill import: not implemented yet");
    ExitCode::FAILURE
}

pub fn export_command(_args: &ExportArgs) -> ExitCode {
    eprintln!("playbill export: not implemented yet");
    ExitCode::FAILURE
}
