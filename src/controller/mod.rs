//! `playbill run`: watches the seven kinds into the relation index and keeps every status equal
//! to what the index says it should be.

mod consent;
mod health;
mod lease;
mod plan;
mod server;
mod state;
mod watch;
mod writer;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube::api::ApiResource;
use kube::runtime::events::{Recorder, Reporter};
use tokio::sync::{Notify, watch as channel};
use tracing::{error, info, warn};

use crate::api::{API, CatalogResource, Component, Domain, Group, Resource, System, User};
use crate::error::Result;
use crate::index::RelationIndex;
use crate::metrics::Metrics;
use crate::model::Kind;
pub use health::Health;
pub use state::State;
pub use writer::{FIELD_MANAGER, status_patch};

/// How `playbill run` behaves.
#[derive(Clone, Debug, clap::Args)]
pub struct Config {
    /// Address of the HTTP server for /metrics, /healthz, /readyz and the Backstage export.
    #[arg(long, env = "PLAYBILL_LISTEN", default_value = "0.0.0.0:8080")]
    pub listen: SocketAddr,
    /// Serve the catalog read-only as Backstage entities: `/api/catalog/entities` (JSON, as
    /// Backstage's catalog API) and `/catalog-info.yaml` (for a Backstage `url` location).
    #[arg(long, env = "PLAYBILL_SERVE_EXPORT", default_value_t = true, action = clap::ArgAction::Set)]
    pub serve_export: bool,
    /// Who may read the catalog API (`/api/catalog/...`, `/catalog-info.yaml`): rbac (a Bearer
    /// token, checked by TokenReview; the caller sees the kinds and namespaces it may `list`, as
    /// SubjectAccessReviews say) or none (anyone who reaches the port reads everything; for a
    /// trusted network only).
    #[arg(long, env = "PLAYBILL_API_AUTH", value_enum, default_value = "rbac")]
    pub api_auth: crate::authz::AuthMode,
    /// Who may read /metrics: none (anyone) or rbac (a Bearer token whose holder may `get` the
    /// non-resource URL /metrics, as controller-runtime's secure metrics check).
    #[arg(
        long,
        env = "PLAYBILL_METRICS_AUTH",
        value_enum,
        default_value = "none"
    )]
    pub metrics_auth: crate::authz::AuthMode,
    /// How many status patches may be in flight at once.
    #[arg(long, env = "PLAYBILL_CONCURRENCY", default_value_t = 8)]
    pub concurrency: usize,
    /// At most this many relations of one type are listed in a status; relationCounts then has
    /// the full counts.
    #[arg(long, env = "PLAYBILL_MAX_RELATIONS_PER_TYPE", default_value_t = crate::index::DEFAULT_MAX_RELATIONS_PER_TYPE)]
    pub max_relations_per_type: usize,
    /// Seconds between full re-evaluations of every entity, a safety net that writes nothing
    /// when all is in order.
    #[arg(long, env = "PLAYBILL_RESYNC_SECONDS", default_value_t = 300)]
    pub resync_seconds: u64,
    /// Elect a leader through a Lease so several replicas can run; only the leader writes.
    #[arg(long, env = "PLAYBILL_LEADER_ELECT", default_value_t = true, action = clap::ArgAction::Set)]
    pub leader_elect: bool,
    /// Name of the Lease used for leader election.
    #[arg(long, env = "PLAYBILL_LEASE_NAME", default_value = "playbill")]
    pub lease_name: String,
    /// Namespace of the Lease; defaults to the pod's namespace, else `default`.
    #[arg(long, env = "POD_NAMESPACE")]
    pub lease_namespace: Option<String>,
    /// This replica's identity in the Lease; defaults to the pod or host name.
    #[arg(long, env = "POD_NAME")]
    pub identity: Option<String>,
    /// Lease duration in seconds: how long a leader that stopped renewing keeps the lease. A
    /// leader stops writing a fifth of it (at least a second) before its lease could run out.
    #[arg(long, default_value_t = 15)]
    pub lease_seconds: u64,
    /// Seconds before a status write or any other API call is given up and retried.
    #[arg(long, env = "PLAYBILL_REQUEST_TIMEOUT_SECONDS", default_value_t = 10)]
    pub request_timeout_seconds: u64,
    /// How references from one namespace to an entity in another are treated: allow (every
    /// reference counts, as in Backstage) or consent (only if a CatalogGrant in the target's
    /// namespace permits it; the operator then also watches CatalogGrants and Namespaces).
    #[arg(
        long,
        env = "PLAYBILL_CROSS_NAMESPACE_REFS",
        value_enum,
        default_value = "allow"
    )]
    pub cross_namespace_refs: crate::tenancy::CrossNamespaceRefsArg,
    /// Shut down when standard input closes: lets a supervising process (such as the test suite)
    /// end the operator by exiting.
    #[arg(long, hide = true)]
    pub exit_on_stdin_close: bool,
}

fn lease_namespace(config: &Config) -> String {
    if let Some(ns) = &config.lease_namespace {
        return ns.clone();
    }
    std::fs::read_to_string("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "default".to_owned())
}

fn identity(config: &Config) -> String {
    config.identity.clone().unwrap_or_else(|| {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "playbill".into());
        format!("{host}-{}", std::process::id())
    })
}

async fn stdin_closed() {
    use tokio::io::AsyncReadExt;
    let mut stdin = tokio::io::stdin();
    let mut buf = [0u8; 64];
    while matches!(stdin.read(&mut buf).await, Ok(n) if n > 0) {}
}

async fn shutdown_signal(tx: channel::Sender<bool>, on_stdin_close: bool) {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            error!(error = %e, "cannot listen for SIGTERM");
            return;
        }
    };
    let stdin = async {
        if on_stdin_close {
            stdin_closed().await
        } else {
            std::future::pending().await
        }
    };
    tokio::select! {
        _ = ctrl_c => {}
        _ = term.recv() => {}
        _ = stdin => {}
    }
    info!("shutting down");
    let _ = tx.send(true);
}

/// What every watch task shares.
struct Shared {
    client: kube::Client,
    state: Arc<Mutex<State>>,
    health: Arc<health::Health>,
    wake: Arc<Notify>,
    metrics: Arc<Metrics>,
    /// The catalog API's read model, when the API is served.
    catalog: Option<Arc<crate::catalog_api::Store>>,
}

fn spawn_watch<K: CatalogResource>(shared: &Shared, resources: &mut HashMap<Kind, ApiResource>) {
    resources.insert(K::KIND, ApiResource::erase::<K>(&()));
    tokio::spawn(watch::watch_kind::<K>(
        shared.client.clone(),
        shared.state.clone(),
        shared.health.clone(),
        shared.wake.clone(),
        shared.metrics.clone(),
        shared.catalog.clone(),
    ));
}

/// A client that names this replica in its User-Agent, so the API server's audit log shows
/// which replica sent each write.
async fn client(identity: &str) -> Result<kube::Client> {
    let mut config = kube::Config::infer()
        .await
        .map_err(kube::Error::InferConfig)?;
    let agent = format!("playbill/{} ({identity})", env!("CARGO_PKG_VERSION"));
    match http::HeaderValue::from_str(&agent) {
        Ok(v) => config.headers.push((http::header::USER_AGENT, v)),
        Err(_) => warn!(%identity, "identity cannot go into a User-Agent header; using none"),
    }
    Ok(kube::Client::try_from(config)?)
}

/// The authorizer of the HTTP endpoints: its reviews go to the API server, and the namespaces
/// a caller may be allowed in are those that hold catalog entities now.
fn authorizer(
    client: kube::Client,
    state: Arc<Mutex<State>>,
) -> crate::authz::Authorizer<crate::authz::KubeReviewer> {
    let namespaces = Box::new(move || {
        let state = state.lock().expect("state lock");
        let set: std::collections::BTreeSet<&str> =
            state.index.refs().map(|r| r.namespace.as_str()).collect();
        set.into_iter().map(str::to_owned).collect()
    });
    crate::authz::Authorizer::new(
        crate::authz::KubeReviewer::new(client),
        namespaces,
        crate::authz::CacheLimits::default(),
    )
}

/// Runs the operator until SIGTERM or SIGINT.
pub async fn run(config: Config) -> Result<()> {
    let identity = identity(&config);
    let client = client(&identity).await?;
    let metrics = Arc::new(Metrics::default());
    let mode = config.cross_namespace_refs.into();
    let state = Arc::new(Mutex::new(State::new(RelationIndex::with_mode(
        config.max_relations_per_type,
        mode,
    ))));
    let wake = Arc::new(Notify::new());
    let health = Arc::new(health::Health::default());
    let (shutdown_tx, shutdown_rx) = channel::channel(false);
    tokio::spawn(shutdown_signal(shutdown_tx, config.exit_on_stdin_close));

    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| crate::error::Error::Listen {
            addr: config.listen.to_string(),
            source,
        })?;
    info!(addr = %config.listen, export = config.serve_export, "serving /metrics, /healthz, /readyz");
    let catalog = config.serve_export.then(crate::catalog_api::Store::new);
    if let Some(c) = &catalog {
        health.serve_catalog();
        tokio::spawn(c.clone().keep_current(state.clone(), health.clone()));
    }
    let auth = server::Auth {
        catalog: config.api_auth,
        metrics: config.metrics_auth,
        authorizer: Arc::new(authorizer(client.clone(), state.clone())),
    };
    if config.serve_export && config.api_auth == crate::authz::AuthMode::None {
        warn!(
            "--api-auth=none: anyone who reaches {} reads the whole catalog, every namespace",
            config.listen
        );
    }
    tokio::spawn(server::serve(
        listener,
        metrics.clone(),
        health.clone(),
        catalog.clone(),
        auth,
        shutdown_rx.clone(),
    ));

    let shared = Shared {
        client: client.clone(),
        state: state.clone(),
        health: health.clone(),
        wake: wake.clone(),
        metrics: metrics.clone(),
        catalog,
    };
    let mut resources = HashMap::new();
    spawn_watch::<Component>(&shared, &mut resources);
    spawn_watch::<System>(&shared, &mut resources);
    spawn_watch::<API>(&shared, &mut resources);
    spawn_watch::<Resource>(&shared, &mut resources);
    spawn_watch::<Domain>(&shared, &mut resources);
    spawn_watch::<Group>(&shared, &mut resources);
    spawn_watch::<User>(&shared, &mut resources);
    info!(
        cross_namespace_refs = mode.as_str(),
        "references across namespaces"
    );
    if mode == crate::consent::CrossNamespaceRefs::Consent {
        health.watch_consents();
        tokio::spawn(consent::watch_grants(
            client.clone(),
            state.clone(),
            health.clone(),
            wake.clone(),
        ));
        tokio::spawn(consent::watch_namespaces(
            client.clone(),
            state.clone(),
            health.clone(),
            wake.clone(),
        ));
    }

    let (leadership, lease_task) = if config.leader_elect {
        let lease_config = lease::LeaseConfig {
            name: config.lease_name.clone(),
            namespace: lease_namespace(&config),
            identity: identity.clone(),
            duration: Duration::from_secs(config.lease_seconds.max(2)),
            timeout: Duration::from_secs(config.request_timeout_seconds.max(1)),
        };
        info!(lease = %lease_config.name, namespace = %lease_config.namespace, %identity, "joining leader election");
        let elector = lease::Elector::new(client.clone(), lease_config).await?;
        let leadership = Arc::new(lease::Leadership::new(false));
        // The election stops only after the writer has: a lease released while writes are still
        // in flight would let them land after the next leader's.
        let (stop, stopped) = channel::channel(false);
        let task = tokio::spawn({
            let leadership = leadership.clone();
            async move { elector.run(&leadership, stopped).await }
        });
        (leadership, Some((stop, task)))
    } else {
        (Arc::new(lease::Leadership::always()), None)
    };

    let writer = writer::Writer {
        events: writer::spawn_event_publisher(
            Recorder::new(
                client.clone(),
                Reporter {
                    controller: "playbill".into(),
                    instance: Some(identity),
                },
            ),
            metrics.clone(),
        ),
        client,
        state,
        wake,
        metrics,
        concurrency: config.concurrency.max(1),
        resync: Duration::from_secs(config.resync_seconds.max(1)),
        timeout: Duration::from_secs(config.request_timeout_seconds.max(1)),
        leadership,
        health,
        resources,
    };
    writer.run(shutdown_rx).await;

    if let Some((stop, task)) = lease_task {
        // Every write has ended; now hand the lease back so a standby replica takes over at once.
        let _ = stop.send(true);
        match tokio::time::timeout(Duration::from_secs(config.lease_seconds), task).await {
            Err(_) => {
                error!("leader election did not stop in time; the lease will expire on its own")
            }
            Ok(Err(e)) => error!(error = %e, "leader election task panicked"),
            Ok(Ok(())) => {}
        }
    }
    info!("stopped");
    Ok(())
}
