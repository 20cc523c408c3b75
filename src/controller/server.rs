//! The operator's HTTP endpoints: /metrics, /healthz, /readyz, and the read-only Backstage
//! export (`/api/catalog/entities`, `/catalog-info.yaml`).

use std::sync::Arc;

use axum::extract::{Extension, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Router, middleware};
use tokio::sync::watch;

use super::health::Health;
use crate::authz::{AuthMode, Authorizer, KubeReviewer, Visibility};
use crate::backstage::{Format, export, filter, render};
use crate::cluster;
use crate::metrics::Metrics;
use crate::model::Kind;

#[derive(Clone)]
struct Shared {
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    client: Option<kube::Client>,
    /// The operator's state: the export counts only the references its grants permit.
    state: Arc<std::sync::Mutex<super::State>>,
}

async fn metrics(State(s): State<Shared>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        s.metrics.encode(),
    )
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(s): State<Shared>) -> (StatusCode, String) {
    match s.health.check() {
        Ok(()) => (StatusCode::OK, "ok".to_owned()),
        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, why),
    }
}

/// The catalog as Backstage entities, read from the API server at request time so it is never
/// staler than the objects themselves.
async fn export(
    s: &Shared,
    options: export::Options,
) -> Result<Vec<export::BackstageEntity>, (StatusCode, String)> {
    let Some(client) = &s.client else {
        return Err((StatusCode::NOT_FOUND, "the export is turned off".into()));
    };
    let objects = cluster::fetch(client, None).await.map_err(|e| {
        tracing::warn!(error = %e, "export: cannot list the catalog");
        (
            StatusCode::BAD_GATEWAY,
            format!("cannot list the catalog: {e}"),
        )
    })?;
    let consents = s.state.lock().expect("state lock").index.consents().clone();
    let out = export::export(&objects, options, &consents);
    for skipped in &out.skipped {
        tracing::warn!(object = %skipped, "export: skipped");
    }
    Ok(out.entities)
}

/// What the caller may read, as the auth middleware put it on the request; absent when the API
/// is served without auth (everything visible).
type Seen = Option<Extension<Arc<dyn Visibility>>>;

/// Keeps the entities the caller may read. The namespace that counts is the Kubernetes one.
// Re-point at merge: the catalog API handlers filter through the same extension.
fn visible(
    mut entities: Vec<export::BackstageEntity>,
    seen: &Seen,
) -> Vec<export::BackstageEntity> {
    if let Some(Extension(visibility)) = seen {
        entities.retain(|e| {
            Kind::parse(&e.kind).is_some_and(|k| visibility.may_read(k, &e.kube_namespace))
        });
    }
    entities
}

const API_OPTIONS: export::Options = export::Options {
    relations: true,
    server_fields: true,
};

fn json_response(body: &impl serde::Serialize) -> axum::response::Response {
    match serde_json::to_string(body) {
        Ok(text) => ([(header::CONTENT_TYPE, "application/json")], text).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

/// `GET /api/catalog/entities`, as Backstage's catalog API answers it, with its `filter`
/// parameter.
async fn entities(
    State(s): State<Shared>,
    seen: Seen,
    Query(params): Query<Vec<(String, String)>>,
) -> axum::response::Response {
    let entities = match export(&s, API_OPTIONS).await {
        Ok(e) => visible(e, &seen),
        Err(e) => return e.into_response(),
    };
    let values: Vec<serde_json::Value> = entities
        .iter()
        .filter_map(|e| serde_json::to_value(e).ok())
        .collect();
    let filters: Vec<filter::Filter> = params
        .iter()
        .filter(|(k, _)| k == "filter")
        .map(|(_, v)| filter::Filter::parse(v))
        .collect();
    json_response(&filter::apply(values, &filters))
}

/// `GET /api/catalog/entities/by-name/{kind}/{namespace}/{name}`, matched case-insensitively.
async fn entity_by_name(
    State(s): State<Shared>,
    seen: Seen,
    Path((kind, namespace, name)): Path<(String, String, String)>,
) -> axum::response::Response {
    let entities = match export(&s, API_OPTIONS).await {
        Ok(e) => visible(e, &seen),
        Err(e) => return e.into_response(),
    };
    let found = entities.iter().find(|e| {
        e.kind.eq_ignore_ascii_case(&kind)
            && e.metadata.namespace.eq_ignore_ascii_case(&namespace)
            && e.metadata.name.eq_ignore_ascii_case(&name)
    });
    match found {
        Some(e) => json_response(e),
        None => (
            StatusCode::NOT_FOUND,
            format!("no {kind}:{namespace}/{name} in the catalog"),
        )
            .into_response(),
    }
}

/// `GET /catalog-info.yaml`: every entity as Backstage would read it from a `url` location,
/// without relations or server fields (Backstage computes and assigns those itself).
async fn location_yaml(State(s): State<Shared>, seen: Seen) -> axum::response::Response {
    let entities = match export(&s, export::Options::default()).await {
        Ok(e) => visible(e, &seen),
        Err(e) => return e.into_response(),
    };
    match render(&entities, Format::Yaml) {
        Ok(text) => ([(header::CONTENT_TYPE, "application/yaml")], text).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e).into_response(),
    }
}

/// Who may call what: the catalog routes and /metrics each with or without RBAC.
pub struct Auth {
    pub catalog: AuthMode,
    pub metrics: AuthMode,
    pub authorizer: Arc<Authorizer<KubeReviewer>>,
}

pub async fn serve(
    listener: tokio::net::TcpListener,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    export_client: Option<kube::Client>,
    state: Arc<std::sync::Mutex<super::State>>,
    auth: Auth,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut catalog = Router::new()
        .route("/api/catalog/entities", get(entities))
        .route(
            "/api/catalog/entities/by-name/{kind}/{namespace}/{name}",
            get(entity_by_name),
        )
        .route("/catalog-info.yaml", get(location_yaml));
    if auth.catalog == AuthMode::Rbac {
        catalog = catalog.route_layer(middleware::from_fn_with_state(
            auth.authorizer.clone(),
            crate::authz::require_reader::<KubeReviewer>,
        ));
    }
    let mut metrics_route = Router::new().route("/metrics", get(self::metrics));
    if auth.metrics == AuthMode::Rbac {
        metrics_route = metrics_route.route_layer(middleware::from_fn_with_state(
            auth.authorizer.clone(),
            crate::authz::require_get::<KubeReviewer>,
        ));
    }
    let app = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .merge(catalog)
        .merge(metrics_route)
        .with_state(Shared {
            metrics,
            health,
            client: export_client,
            state,
        });
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = shutdown.changed().await;
        })
        .await;
    if let Err(e) = result {
        tracing::error!(error = %e, "HTTP server failed");
    }
}
