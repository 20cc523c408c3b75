//! The operator's HTTP endpoints: /metrics, /healthz, /readyz, and the read-only Backstage
//! export: Backstage's catalog API under `/api/catalog` (see [`crate::catalog_api`]) and
//! `/catalog-info.yaml`, both behind [`crate::authz`] unless `--api-auth=none`.

use std::sync::Arc;

use axum::extract::{Extension, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Router, middleware};
use tokio::sync::watch;

use super::health::Health;
use crate::authz::{AuthMode, Authorizer, KubeReviewer, Visibility};
use crate::backstage::{Format, export, render};
use crate::catalog_api::{self, Store};
use crate::consent::Consents;
use crate::metrics::Metrics;
use crate::model::Kind;

#[derive(Clone)]
struct Shared {
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    /// The catalog API's read model; `None` when the export is off.
    catalog: Option<Arc<Store>>,
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

/// What the caller may read, as the auth middleware put it on the request; absent when the API
/// is served without auth (everything visible).
type Seen = Option<Extension<Arc<dyn Visibility>>>;

/// `GET /catalog-info.yaml`: every entity the caller may read, as Backstage would read it from a
/// `url` location, without relations or server fields (Backstage computes and assigns those
/// itself), from the objects the watches hold.
async fn location_yaml(State(s): State<Shared>, seen: Seen) -> axum::response::Response {
    let Some(catalog) = &s.catalog else {
        return (StatusCode::NOT_FOUND, "the export is turned off").into_response();
    };
    if !catalog.snapshot().complete {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "the catalog is still being read from the API server",
        )
            .into_response();
    }
    let objects = catalog.objects();
    let mut entities =
        export::export(&objects, export::Options::default(), &Consents::default()).entities;
    if let Some(Extension(visibility)) = &seen {
        // The namespace that counts is the Kubernetes one.
        entities.retain(|e| {
            Kind::parse(&e.kind).is_some_and(|k| visibility.may_read(k, &e.kube_namespace))
        });
    }
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
    catalog: Option<Arc<Store>>,
    auth: Auth,
    mut shutdown: watch::Receiver<bool>,
) {
    let shared = Shared {
        metrics,
        health,
        catalog: catalog.clone(),
    };
    let mut catalog_routes = Router::new()
        .route("/catalog-info.yaml", get(location_yaml))
        .with_state(shared.clone());
    if let Some(catalog) = catalog {
        catalog_routes = catalog_routes.merge(catalog_api::router(catalog));
    }
    if auth.catalog == AuthMode::Rbac {
        catalog_routes = catalog_routes.route_layer(middleware::from_fn_with_state(
            auth.authorizer.clone(),
            crate::authz::require_reader::<KubeReviewer>,
        ));
    }
    let mut metrics_route = Router::new()
        .route("/metrics", get(self::metrics))
        .with_state(shared.clone());
    if auth.metrics == AuthMode::Rbac {
        metrics_route = metrics_route.route_layer(middleware::from_fn_with_state(
            auth.authorizer.clone(),
            crate::authz::require_get::<KubeReviewer>,
        ));
    }
    let app = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(shared)
        .merge(catalog_routes)
        .merge(metrics_route);
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = shutdown.changed().await;
        })
        .await;
    if let Err(e) = result {
        tracing::error!(error = %e, "HTTP server failed");
    }
}
