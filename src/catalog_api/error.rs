//! Errors in the shape Backstage's backends answer them:
//! `{"error": {"name", "message"}, "request": {"method", "url"}, "response": {"statusCode"}}`.

use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::search::bounded;

/// A failed request, named as Backstage's errors are (`InputError`, `NotFoundError`, ...).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{name}: {message}")]
pub struct ApiError {
    pub status: StatusCode,
    pub name: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn input(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            name: "InputError",
            message: message.into(),
        }
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::NOT_FOUND,
            name: "NotFoundError",
            message: message.into(),
        }
    }

    /// What Backstage answers to a write in its read-only mode, which this API always is.
    pub fn read_only() -> ApiError {
        ApiError {
            status: StatusCode::FORBIDDEN,
            name: "NotAllowedError",
            message: "This operation not allowed in readonly mode: Playbill's catalog is written \
                      through the Kubernetes API (kubectl apply, Argo CD), not through this API"
                .into(),
        }
    }

    pub fn unavailable(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            name: "ServiceUnavailableError",
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    /// The error travels as an extension; [`with_request`] writes the body, which names the
    /// request.
    fn into_response(self) -> Response {
        let mut res = self.status.into_response();
        res.extensions_mut().insert(self);
        res
    }
}

/// Writes the body of an [`ApiError`] response with the request it answers.
pub async fn with_request(req: Request, next: Next) -> Response {
    let method = req.method().to_string();
    let url = bounded(
        &req.uri()
            .path_and_query()
            .map_or_else(|| req.uri().path().to_owned(), ToString::to_string),
    );
    let mut res = next.run(req).await;
    if let Some(e) = res.extensions_mut().remove::<ApiError>() {
        let body = json!({
            "error": {"name": e.name, "message": e.message},
            "request": {"method": method, "url": url},
            "response": {"statusCode": e.status.as_u16()},
        });
        return (
            e.status,
            [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
            body.to_string(),
        )
            .into_response();
    }
    res
}
