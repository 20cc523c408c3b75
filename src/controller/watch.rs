//! One watch per kind, feeding the shared state. Objects are read as untyped JSON first so one
//! object that does not fit the Rust type is reported on its own instead of failing the list.

use std::sync::{Arc, Mutex};

use futures::StreamExt;
use kube::api::{Api, ApiResource, DynamicObject};
use kube::runtime::{WatchStreamExt, watcher};
use tokio::sync::Notify;
use tracing::{debug, info, warn};

use super::state::{Decoded, State};
use crate::api::CatalogResource;
use crate::metrics::{Metrics, kind as kind_label};

fn decode<K: CatalogResource>(obj: &DynamicObject) -> Decoded {
    let value = match serde_json::to_value(obj) {
        Ok(v) => v,
        Err(e) => return Decoded::Invalid(e.to_string()),
    };
    match serde_json::from_value::<K>(value) {
        Ok(k) => Decoded::Entity(k.entity()),
        Err(e) => Decoded::Invalid(format!("spec cannot be read: {e}")),
    }
}

/// Watches every object of kind `K` in the cluster until the stream ends.
pub async fn watch_kind<K: CatalogResource>(
    client: kube::Client,
    state: Arc<Mutex<State>>,
    wake: Arc<Notify>,
    metrics: Arc<Metrics>,
) {
    let kind = K::KIND;
    let ar = ApiResource::erase::<K>(&());
    let api: Api<DynamicObject> = Api::all_with(client, &ar);
    let label = kind_label(kind);
    let mut inits = 0u64;
    let stream = watcher(api, watcher::Config::default()).default_backoff();
    futures::pin_mut!(stream);
    while let Some(event) = stream.next().await {
        let event = match event {
            Ok(e) => e,
            Err(e) => {
                metrics.watch_errors.get_or_create(&label).inc();
                warn!(%kind, error = %e, "watch error; retrying");
                continue;
            }
        };
        let mut s = state.lock().expect("state lock");
        match event {
            watcher::Event::Init => {
                inits += 1;
                if inits > 1 {
                    metrics.watch_restarts.get_or_create(&label).inc();
                    info!(%kind, "watch restarted; re-listing");
                }
                s.begin_relist(kind);
            }
            watcher::Event::InitApply(obj) | watcher::Event::Apply(obj) => {
                let decoded = decode::<K>(&obj);
                if let Decoded::Invalid(msg) = &decoded {
                    metrics.decode_errors.get_or_create(&label).inc();
                    warn!(%kind, namespace = ?obj.metadata.namespace, name = ?obj.metadata.name, error = %msg, "object does not fit the schema");
                }
                s.apply(kind, &obj, decoded);
            }
            watcher::Event::Delete(obj) => {
                let me = crate::model::EntityRef::of(
                    kind,
                    obj.metadata.namespace.as_deref().unwrap_or_default(),
                    obj.metadata.name.as_deref().unwrap_or_default(),
                );
                debug!(%me, "deleted");
                s.delete(&me);
            }
            watcher::Event::InitDone => {
                s.end_relist(kind);
                info!(%kind, objects = s.objects.values().filter(|o| o.kind == kind).count(), "watch synced");
            }
        }
        drop(s);
        wake.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Component;

    fn object(spec: serde_json::Value) -> DynamicObject {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "catalog.playbill.dev/v1alpha1",
            "kind": "Component",
            "metadata": {"name": "c", "namespace": "n", "generation": 2},
            "spec": spec,
        }))
        .unwrap()
    }

    #[test]
    fn an_object_that_fits_becomes_an_entity() {
        let obj = object(
            serde_json::json!({"type": "service", "lifecycle": "production", "owner": "team"}),
        );
        let Decoded::Entity(e) = decode::<Component>(&obj) else {
            panic!("not decoded")
        };
        assert_eq!(e.refs[0].value, "team");
    }

    #[test]
    fn an_object_that_does_not_fit_is_reported_not_fatal() {
        let obj = object(serde_json::json!({"type": "service", "lifecycle": 7}));
        let Decoded::Invalid(msg) = decode::<Component>(&obj) else {
            panic!("decoded a bad object")
        };
        assert!(msg.starts_with("spec cannot be read:"), "{msg}");
        // The state records it as an entity whose status explains the problem.
        let mut state = State::default();
        state.apply(crate::model::Kind::Component, &obj, Decoded::Invalid(msg));
        state.index.take_dirty();
        let me = crate::model::EntityRef::of(crate::model::Kind::Component, "n", "c");
        let desired = state.index.desired(&me).unwrap();
        assert_eq!(desired.readiness.reason, "InvalidSpec");
        assert_eq!(desired.status.observed_generation, Some(2));
    }
}
