//! One watch per kind, feeding the shared state.
//!
//! Objects are decoded through kube's [`DeserializeGuard`], so one object that does not fit the
//! Rust type is reported on its own instead of failing the list, and decoding happens before the
//! state lock is taken. The watch manages its own retries: after a `410 Gone` kube re-lists at
//! once, and after any other error the stream is rebuilt (a full re-list) after a short backoff
//! that starts over as soon as the API server answers again. Until that re-list completes the kind
//! counts as not synced, and `/readyz` says so.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use kube::api::Api;
use kube::core::error_boundary::DeserializeGuard;
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};
use tokio::sync::Notify;
use tracing::{debug, info, warn};

use super::health::Health;
use super::state::{Decoded, ObjectMeta, State};
use crate::api::CatalogResource;
use crate::metrics::{Metrics, kind as kind_label};
use crate::model::EntityRef;

/// The first pause after a failed connection; it doubles up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(100);
/// Short enough that an API server back from a restart is seen within a couple of seconds.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// What the state needs from one watched object, decoded outside the state lock.
fn decode<K: CatalogResource>(obj: &DeserializeGuard<K>) -> (ObjectMeta, Decoded) {
    let meta = obj.meta();
    let object = ObjectMeta {
        namespace: meta.namespace.clone().unwrap_or_default(),
        name: meta.name.clone().unwrap_or_default(),
        uid: meta.uid.clone(),
        resource_version: meta.resource_version.clone(),
        generation: meta.generation,
    };
    let decoded = match &obj.0 {
        Ok(k) => Decoded::Entity {
            entity: k.entity(),
            status: k.status().cloned(),
        },
        Err(invalid) => Decoded::Invalid(format!("spec cannot be read: {}", invalid.error)),
    };
    (object, decoded)
}

/// Whether a watch error means the API server no longer has the history to resume from; kube's
/// watcher then re-lists by itself on the next poll, so there is nothing to wait for.
fn is_gone(e: &watcher::Error) -> bool {
    match e {
        watcher::Error::WatchError(status) => status.code == 410,
        watcher::Error::WatchStartFailed(kube::Error::Api(status))
        | watcher::Error::WatchFailed(kube::Error::Api(status))
        | watcher::Error::InitialListFailed(kube::Error::Api(status)) => status.code == 410,
        _ => false,
    }
}

fn backoff(failures: u32) -> Duration {
    MIN_BACKOFF
        .saturating_mul(1 << failures.min(8))
        .min(MAX_BACKOFF)
}

/// Watches every object of kind `K` in the cluster, for as long as the process runs.
pub async fn watch_kind<K: CatalogResource>(
    client: kube::Client,
    state: Arc<Mutex<State>>,
    health: Arc<Health>,
    wake: Arc<Notify>,
    metrics: Arc<Metrics>,
) {
    let kind = K::KIND;
    let api: Api<DeserializeGuard<K>> = Api::all(client);
    let label = kind_label(kind);
    let mut lists = 0u64;
    let mut failures = 0u32;
    loop {
        let stream = watcher(api.clone(), watcher::Config::default());
        futures::pin_mut!(stream);
        while let Some(event) = stream.next().await {
            let event = match event {
                Ok(e) => e,
                Err(e) => {
                    health.set_synced(kind, false);
                    metrics.watch_errors.get_or_create(&label).inc();
                    if is_gone(&e) {
                        info!(%kind, error = %e, "watch expired; re-listing now");
                        continue;
                    }
                    failures += 1;
                    warn!(%kind, error = %e, "watch failed; re-listing after a pause");
                    break;
                }
            };
            failures = 0;
            apply_event(kind, event, &state, &health, &metrics, &mut lists);
            wake.notify_one();
        }
        tokio::time::sleep(backoff(failures)).await;
    }
}

fn apply_event<K: CatalogResource>(
    kind: crate::model::Kind,
    event: watcher::Event<DeserializeGuard<K>>,
    state: &Mutex<State>,
    health: &Health,
    metrics: &Metrics,
    lists: &mut u64,
) {
    let label = kind_label(kind);
    match event {
        watcher::Event::Init => {
            *lists += 1;
            if *lists > 1 {
                metrics.watch_restarts.get_or_create(&label).inc();
                info!(%kind, "re-listing");
            }
            state.lock().expect("state lock").begin_relist(kind);
        }
        watcher::Event::InitApply(obj) | watcher::Event::Apply(obj) => {
            let (object, decoded) = decode(&obj);
            if let Decoded::Invalid(msg) = &decoded {
                metrics.decode_errors.get_or_create(&label).inc();
                warn!(%kind, namespace = %object.namespace, name = %object.name, error = %msg, "object does not fit the schema");
            }
            state
                .lock()
                .expect("state lock")
                .apply(kind, object, decoded);
        }
        watcher::Event::Delete(obj) => {
            let me = EntityRef::of(
                kind,
                obj.meta().namespace.as_deref().unwrap_or_default(),
                &obj.name_any(),
            );
            debug!(%me, "deleted");
            state.lock().expect("state lock").delete(&me);
        }
        watcher::Event::InitDone => {
            let objects = state.lock().expect("state lock").end_relist(kind);
            health.set_synced(kind, true);
            info!(%kind, objects, "watch synced");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Component;

    fn object(spec: serde_json::Value) -> DeserializeGuard<Component> {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "catalog.playbill.dev/v1alpha1",
            "kind": "Component",
            "metadata": {"name": "c", "namespace": "n", "generation": 2, "resourceVersion": "7"},
            "spec": spec,
        }))
        .unwrap()
    }

    #[test]
    fn an_object_that_fits_becomes_an_entity() {
        let obj = object(
            serde_json::json!({"type": "service", "lifecycle": "production", "owner": "team"}),
        );
        let (meta, Decoded::Entity { entity, .. }) = decode(&obj) else {
            panic!("not decoded")
        };
        assert_eq!(entity.refs[0].value, "team");
        assert_eq!(
            (meta.name.as_str(), meta.resource_version.as_deref()),
            ("c", Some("7"))
        );
    }

    #[test]
    fn an_object_that_does_not_fit_is_reported_not_fatal() {
        let obj = object(serde_json::json!({"type": "service", "lifecycle": 7}));
        let (meta, decoded) = decode(&obj);
        let Decoded::Invalid(msg) = &decoded else {
            panic!("decoded a bad object")
        };
        assert!(msg.starts_with("spec cannot be read:"), "{msg}");
        assert_eq!(meta.generation, Some(2));
    }

    #[test]
    fn a_gone_watch_relists_at_once_and_other_errors_back_off_briefly() {
        let gone = watcher::Error::WatchError(Box::new(
            kube::core::Status::failure("too old resource version", "Expired").with_code(410),
        ));
        assert!(is_gone(&gone));
        assert!(!is_gone(&watcher::Error::NoResourceVersion));
        assert_eq!(backoff(1), Duration::from_millis(200));
        assert_eq!(backoff(30), MAX_BACKOFF);
    }
}
