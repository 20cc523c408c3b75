//! The commands that read files or the cluster and talk to the user: the only place (with
//! main.rs) that prints to stderr, creates an async runtime or picks an exit code. The library
//! modules they call return typed errors and texts, so the same code serves the operator's HTTP
//! export and the tests.

use std::io::Write;
use std::process::ExitCode;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use playbill::backstage::{ExportArgs, ImportArgs, export, import};
use playbill::catalog::CatalogObject;
use playbill::cluster::Coverage;
use playbill::consent::{Consents, CrossNamespaceRefs};
use playbill::graph::GraphArgs;
use playbill::manifest::ManifestError;

/// Writes `text` to stdout; a closed pipe is a failure, not a panic.
pub fn print(text: &str) -> ExitCode {
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::FAILURE,
    }
}

pub fn fail(e: impl std::fmt::Display) -> ExitCode {
    eprintln!("playbill: {e}");
    ExitCode::FAILURE
}

/// A one-shot command needs one thread: it makes a few LIST calls and exits.
fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

fn now() -> Time {
    Time(k8s_openapi::jiff::Timestamp::now())
}

/// Why a command could not read the catalog.
#[derive(Debug, thiserror::Error)]
enum LoadError {
    #[error(transparent)]
    Files(#[from] ManifestError),
    #[error("cannot read the catalog from the cluster: {0}")]
    Cluster(#[from] kube::Error),
    #[error("cannot start the async runtime: {0}")]
    Runtime(#[from] std::io::Error),
}

/// The catalog for a command: from manifest files (walked directories, `-` for stdin) when
/// `files` names any, otherwise from the cluster that KUBECONFIG or the in-cluster config points
/// at, as [`playbill::cluster::fetch_covering`] reads it. Objects in files without a namespace
/// get `namespace`, or `default`.
fn load(
    files: &[String],
    namespace: Option<&str>,
    mode: CrossNamespaceRefs,
) -> Result<(Vec<CatalogObject>, Coverage, Consents), LoadError> {
    if !files.is_empty() {
        let inputs = playbill::manifest::read_inputs(files)?;
        let (objects, consents) = playbill::catalog::from_manifests_with(
            &inputs,
            namespace.unwrap_or("default"),
            playbill::index::DEFAULT_MAX_RELATIONS_PER_TYPE,
            mode,
            &now(),
        )?;
        return Ok((objects, Coverage::All, consents));
    }
    runtime()?.block_on(async {
        let client = kube::Client::try_default().await?;
        let (objects, coverage) = playbill::cluster::fetch_covering(&client, namespace).await?;
        let consents = playbill::tenancy::fetch_consents(
            &client,
            mode,
            objects.iter().map(|o| o.namespace.as_str()),
        )
        .await?;
        Ok((objects, coverage, consents))
    })
}

/// `playbill resolve`.
pub fn resolve(
    paths: &[String],
    namespace: &str,
    max_relations_per_type: usize,
    mode: CrossNamespaceRefs,
) -> ExitCode {
    let result = playbill::manifest::read_inputs(paths).and_then(|inputs| {
        playbill::resolve::resolve_with(&inputs, namespace, max_relations_per_type, mode, &now())
    });
    match result {
        Ok(statuses) => match serde_json::to_string_pretty(&statuses) {
            Ok(json) => print(&(json + "\n")),
            Err(e) => fail(e),
        },
        Err(e) => fail(e),
    }
}

/// `playbill validate`: the findings on stdout, a summary on stderr, exit 1 on any error (or
/// any warning with `strict`).
pub fn validate(
    paths: &[String],
    namespace: &str,
    output: playbill::check::Output,
    strict: bool,
) -> ExitCode {
    let inputs = match playbill::manifest::read_inputs(paths) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("playbill validate: {e}");
            return ExitCode::FAILURE;
        }
    };
    let report = playbill::check::validate(&inputs, namespace);
    if print(&playbill::check::render(&report, output)) != ExitCode::SUCCESS {
        return ExitCode::FAILURE;
    }
    eprintln!("playbill validate: {}", playbill::check::summary(&report));
    let failed = report.errors() > 0 || (strict && report.warnings() > 0);
    match failed {
        true => ExitCode::FAILURE,
        false => ExitCode::SUCCESS,
    }
}

/// `playbill import`.
pub fn import(args: &ImportArgs) -> ExitCode {
    let inputs = match playbill::manifest::read_inputs(&args.paths) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("playbill import: {e}");
            return ExitCode::FAILURE;
        }
    };
    let files = playbill::backstage::placeholders::DiskFiles::new(&args.paths);
    let outcome = import::import_with(&inputs, &args.options(), &files);
    for note in &outcome.notes {
        eprintln!("playbill import: {note}");
    }
    for e in &outcome.errors {
        eprintln!("playbill import: {e}");
    }
    let yaml = match outcome.to_yaml() {
        Ok(y) => y,
        Err(e) => {
            eprintln!("playbill import: cannot write YAML: {e}");
            return ExitCode::FAILURE;
        }
    };
    if print(&yaml) != ExitCode::SUCCESS {
        return ExitCode::FAILURE;
    }
    eprintln!(
        "playbill import: {} entities imported, {} skipped, {} invalid",
        outcome.entities.len(),
        outcome.notes.len(),
        outcome
            .errors
            .iter()
            .map(|e| &e.source)
            .collect::<std::collections::BTreeSet<_>>()
            .len()
    );
    if outcome.errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// `playbill export`.
pub fn export(args: &ExportArgs) -> ExitCode {
    let (objects, consents) = match load(
        &args.filename,
        args.namespace.as_deref(),
        args.cross_namespace_refs.into(),
    ) {
        Ok((objects, coverage, consents)) => {
            if let Coverage::Namespace(ns) = coverage {
                eprintln!(
                    "playbill export: not allowed to list the catalog in every namespace; read only {ns}, so relations from other namespaces are left out"
                );
            }
            (objects, consents)
        }
        Err(e) => {
            eprintln!("playbill export: {e}");
            return ExitCode::FAILURE;
        }
    };
    let options = export::Options {
        relations: !args.no_relations,
        server_fields: args.filename.is_empty(),
    };
    let mut result = export::export(&objects, options, &consents);
    if let Some(ns) = &args.namespace {
        result.entities.retain(|e| e.kube_namespace == *ns);
    }
    for s in &result.skipped {
        eprintln!("playbill export: skipped {s}");
    }
    match playbill::backstage::render(&result.entities, args.output) {
        Ok(text) => print(&text),
        Err(e) => {
            eprintln!("playbill export: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `playbill graph` (also `kubectl playbill graph`, hence the program name in messages).
pub fn graph(args: &GraphArgs) -> ExitCode {
    let program = playbill::plugin::program_name();
    let input = if !args.files.is_empty() {
        playbill::graph::from_files(args)
    } else {
        match runtime() {
            Ok(rt) => rt.block_on(playbill::graph::from_cluster(args)),
            Err(e) => {
                eprintln!("{program} graph: cannot start the async runtime: {e}");
                return ExitCode::FAILURE;
            }
        }
    };
    let drawn = input.and_then(|input| {
        if let Coverage::Namespace(ns) = &input.coverage {
            eprintln!(
                "{program}: not allowed to list the catalog in every namespace; reading only namespace {ns}, so entities elsewhere are drawn as \"not read\""
            );
        }
        input.draw(args.output)
    });
    match drawn {
        Ok(text) => print(&text),
        Err(e) => {
            eprintln!("{program} graph: {e}");
            ExitCode::FAILURE
        }
    }
}
