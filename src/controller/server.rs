//! The operator's HTTP endpoints: /metrics, /healthz, /readyz, and the read-only Backstage
//! export: Backstage's catalog API under `/api/catalog` (see [`crate::catalog_api`]) and
//! `/catalog-info.yaml`.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::sync::watch;

use super::health::Health;
use crate::backstage::{Format, export, render};
use crate::catalog_api::{self, Store};
use crate::consent::Consents;
use crate::metrics::Metrics;

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

/// `GET /catalog-info.yaml`: every entity as Backstage would read it from a `url` location,
/// without relations or server fields (Backstage computes and assigns those itself), from the
/// objects the watches hold.
async fn location_yaml(State(s): State<Shared>) -> axum::response::Response {
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
    let out = export::export(&objects, export::Options::default(), &Consents::default());
    match render(&out.entities, Format::Yaml) {
        Ok(text) => ([(header::CONTENT_TYPE, "application/yaml")], text).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e).into_response(),
    }
}

pub async fn serve(
    listener: tokio::net::TcpListener,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    catalog: Option<Arc<Store>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut app = Router::new()
        .route("/metrics", get(self::metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/catalog-info.yaml", get(location_yaml))
        .with_state(Shared {
            metrics,
            health,
            catalog: catalog.clone(),
        });
    if let Some(catalog) = catalog {
        app = app.merge(catalog_api::router(catalog));
    }
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = shutdown.changed().await;
        })
        .await;
    if let Err(e) = result {
        tracing::error!(error = %e, "HTTP server failed");
    }
}
