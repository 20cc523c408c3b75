mod cli;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use cli::{fail, print};

/// Playbill: the Kubernetes cluster as the software catalog.
#[derive(Parser)]
#[command(name = "playbill", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the operator: watch the catalog and keep every entity's status resolved.
    Run {
        #[command(flatten)]
        config: playbill::controller::Config,
        /// Log filter, e.g. `info`, `debug`, or `playbill=debug,kube=info`.
        #[arg(long, env = "PLAYBILL_LOG", default_value = "info")]
        log_level: String,
        /// Log format.
        #[arg(long, env = "PLAYBILL_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
        log_format: LogFormat,
    },
    /// Print every catalog CRD as multi-document YAML (the same bytes as crds/).
    Crds {
        /// Print instead the chart template of the admission policy that warns about unknown keys
        /// in spec (charts/playbill/templates/unknown-keys-policy.yaml).
        #[arg(long)]
        policy: bool,
    },
    /// Convert Backstage catalog-info.yaml files into Playbill manifests for `kubectl apply -f -`.
    Import(playbill::backstage::ImportArgs),
    /// Print the catalog as Backstage entities, with their relations.
    Export(playbill::backstage::ExportArgs),
    /// Print the data of the Backstage mapping as JSON (the table the Backstage entity provider
    /// in backstage/plugin-catalog-backend-module-playbill ships).
    #[command(hide = true)]
    BackstageMapping,
    /// Print the relation graph around an entity, or of the whole catalog, as DOT or Mermaid.
    Graph(playbill::graph::GraphArgs),
    /// Resolve the catalog in manifest files offline and print each entity's status as JSON, as
    /// the operator would write it. Useful in CI before applying.
    Resolve {
        /// Manifest files or directories (walked); `-` reads stdin.
        #[arg(required = true)]
        paths: Vec<String>,
        /// The namespace of objects that do not name one.
        #[arg(long, short = 'n', default_value = "default")]
        namespace: String,
        /// At most this many relations of one type are listed per entity.
        #[arg(long, default_value_t = playbill::index::DEFAULT_MAX_RELATIONS_PER_TYPE)]
        max_relations_per_type: usize,
        /// How references across namespaces count, as the operator's --cross-namespace-refs:
        /// allow (every reference, as in Backstage) or consent (only those a CatalogGrant in the
        /// target's namespace, among the manifests, permits).
        #[arg(long, value_enum, default_value = "allow")]
        cross_namespace_refs: playbill::tenancy::CrossNamespaceRefsArg,
    },
    /// Check manifests for CI or a pre-commit hook: every schema, CEL, metadata and reference
    /// problem in one run, as FILE:LINE: FIELD: message. Unknown keys in spec and references to
    /// entities not in the given files are warnings; exits 1 on any error.
    Validate {
        /// Manifest files or directories (walked); `-` reads stdin.
        #[arg(required = true)]
        paths: Vec<String>,
        /// The namespace of objects that do not name one.
        #[arg(long, short = 'n', default_value = "default")]
        namespace: String,
        /// Output format.
        #[arg(long, short = 'o', value_enum, default_value_t = playbill::check::Output::Text)]
        output: playbill::check::Output,
        /// Treat warnings as errors: exit 1 on any.
        #[arg(long)]
        strict: bool,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

fn init_logging(level: &str, format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_new(level).unwrap_or_else(|e| {
        eprintln!("playbill: bad log level {level:?} ({e}); using info");
        tracing_subscriber::EnvFilter::new("info")
    });
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn main() -> ExitCode {
    let cli: Cli = playbill::plugin::parse();
    match cli.command {
        Command::Run {
            config,
            log_level,
            log_format,
        } => {
            init_logging(&log_level, log_format);
            let runtime = match tokio::runtime::Runtime::new() {
                Ok(r) => r,
                Err(e) => return fail(e),
            };
            let result = runtime.block_on(playbill::controller::run(config));
            // Watches and a blocked stdin reader may still be running; do not wait for them.
            runtime.shutdown_timeout(std::time::Duration::from_secs(1));
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!(error = %e, "operator failed");
                    fail(e)
                }
            }
        }
        Command::Crds { policy: false } => match playbill::api::crds_yaml() {
            Ok(yaml) => print(&yaml),
            Err(e) => fail(format!("cannot render CRDs: {e}")),
        },
        Command::Crds { policy: true } => print(&playbill::api::policy::chart_template()),
        Command::Import(args) => cli::import(&args),
        Command::Export(args) => cli::export(&args),
        Command::BackstageMapping => {
            match serde_json::to_string_pretty(&playbill::backstage::mapping::table()) {
                Ok(json) => print(&(json + "\n")),
                Err(e) => fail(format!("cannot render the mapping table: {e}")),
            }
        }
        Command::Graph(args) => cli::graph(&args),
        Command::Resolve {
            paths,
            namespace,
            max_relations_per_type,
            cross_namespace_refs,
        } => cli::resolve(
            &paths,
            &namespace,
            max_relations_per_type,
            cross_namespace_refs.into(),
        ),
        Command::Validate {
            paths,
            namespace,
            output,
            strict,
        } => cli::validate(&paths, &namespace, output, strict),
    }
}
