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
use crate::catalog_api::Store;
use crate::catalog_api::store::StoredObject;
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
            unknown_fields: k.unknown_fields(),
        },
        Err(invalid) => Decoded::Invalid(format!("spec cannot be read: {}", invalid.error)),
    };
    (object, decoded)
}

/// The object as the catalog API keeps it: compact JSON of what the export reads (no status,
/// no managedFields); `None` when its spec cannot be read.
fn catalog_object<K: CatalogResource>(obj: &DeserializeGuard<K>) -> Option<StoredObject> {
    let k = obj.0.as_ref().ok()?;
    StoredObject::new(serde_json::to_value(k).ok()?)
}

/// What to do after a watch error.
#[derive(Debug, PartialEq, Eq)]
enum Retry {
    /// The watch expired mid-stream (410 as a watch event): kube's watcher re-lists by itself on
    /// the next poll, so keep polling.
    Relist,
    /// The history to resume from is gone, but kube would retry the same expired version: build
    /// a new stream (a full re-list) at once.
    Rebuild,
    /// Anything else (no connection, a server error): build a new stream after a pause.
    Backoff,
}

fn retry(e: &watcher::Error) -> Retry {
    match e {
        watcher::Error::WatchError(status) if status.code == 410 => Retry::Relist,
        watcher::Error::WatchStartFailed(kube::Error::Api(status))
        | watcher::Error::WatchFailed(kube::Error::Api(status))
            if status.code == 410 =>
        {
            Retry::Rebuild
        }
        _ => Retry::Backoff,
    }
}

/// The pause after `failures` failed attempts in a row: none before the first.
fn backoff(failures: u32) -> Duration {
    if failures == 0 {
        return Duration::ZERO;
    }
    MIN_BACKOFF
        .saturating_mul(1 << (failures - 1).min(8))
        .min(MAX_BACKOFF)
}

/// Watches every object of kind `K` in the cluster, for as long as the process runs.
pub async fn watch_kind<K: CatalogResource>(
    client: kube::Client,
    state: Arc<Mutex<State>>,
    health: Arc<Health>,
    wake: Arc<Notify>,
    metrics: Arc<Metrics>,
    catalog: Option<Arc<Store>>,
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
                    match retry(&e) {
                        Retry::Relist => {
                            info!(%kind, error = %e, "watch expired; re-listing now");
                            continue;
                        }
                        Retry::Rebuild => {
                            info!(%kind, error = %e, "watch expired; re-listing now");
                        }
                        Retry::Backoff => {
                            failures += 1;
                            warn!(%kind, error = %e, "watch failed; re-listing after a pause");
                        }
                    }
                    break;
                }
            };
            // The API server answered with data (Init comes before the list is even asked for).
            if !matches!(event, watcher::Event::Init) {
                failures = 0;
            }
            apply_event(
                kind,
                event,
                &state,
                &health,
                &metrics,
                catalog.as_deref(),
                &mut lists,
            );
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
    catalog: Option<&Store>,
    lists: &mut u64,
) {
    let label = kind_label(kind);
    match event {
        watcher::Event::Init => {
            state.lock().expect("state lock").begin_relist(kind);
            if let Some(c) = catalog {
                c.begin_relist(kind);
            }
        }
        watcher::Event::InitApply(obj) | watcher::Event::Apply(obj) => {
            let (object, decoded) = decode(&obj);
            if let Some(c) = catalog {
                let me = EntityRef::of(kind, &object.namespace, &object.name);
                c.apply(kind, me, catalog_object(&obj));
            }
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
            if let Some(c) = catalog {
                c.delete(&me);
            }
            state.lock().expect("state lock").delete(&me);
        }
        watcher::Event::InitDone => {
            let objects = state.lock().expect("state lock").end_relist(kind);
            if let Some(c) = catalog {
                c.end_relist(kind);
            }
            health.set_synced(kind, true);
            // Counted once the list is complete: attempts that failed before it are errors.
            *lists += 1;
            if *lists > 1 {
                metrics.watch_restarts.get_or_create(&label).inc();
            }
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
    fn unknown_keys_become_warnings_unless_custom() {
        let obj: DeserializeGuard<crate::api::Component> =
            serde_json::from_value(serde_json::json!({
                "apiVersion": "catalog.playbill.dev/v1alpha1",
                "kind": "Component",
                "metadata": {"name": "c", "namespace": "n",
                    "annotations": {"catalog.playbill.dev/custom-keys": "costCenter"}},
                "spec": {"type": "service", "lifecycle": "production", "owner": "team",
                    "sytem": "shop", "costCenter": "cc-1", "x-slack": "#team", "region": 1},
            }))
            .unwrap();
        let (_, Decoded::Entity { unknown_fields, .. }) = decode(&obj) else {
            panic!("not decoded")
        };
        let got: Vec<_> = unknown_fields
            .iter()
            .map(|u| {
                (
                    u.field.as_str(),
                    u.suggestion.as_deref(),
                    u.message.as_str(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (
                    "spec.sytem",
                    Some("spec.system"),
                    "spec.sytem is not a field of Component; did you mean spec.system?"
                ),
                (
                    "spec.region",
                    None,
                    "spec.region is not a field of Component"
                ),
            ]
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
        assert_eq!(retry(&gone), Retry::Relist);
        let gone_at_start = watcher::Error::WatchStartFailed(kube::Error::Api(Box::new(
            kube::core::Status::failure("too old resource version", "Expired").with_code(410),
        )));
        assert_eq!(retry(&gone_at_start), Retry::Rebuild);
        assert_eq!(retry(&watcher::Error::NoResourceVersion), Retry::Backoff);
        assert_eq!(backoff(0), Duration::ZERO);
        assert_eq!(backoff(1), MIN_BACKOFF);
        assert_eq!(backoff(2), 2 * MIN_BACKOFF);
        assert_eq!(backoff(30), MAX_BACKOFF);
    }
}
