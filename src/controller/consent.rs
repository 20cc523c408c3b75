//! In `--cross-namespace-refs=consent` mode, two more watches feed the index: every
//! CatalogGrant, and the labels of every Namespace (for grants that select namespaces by label).
//! A grant or a label change re-evaluates only the references it can affect; a deleted
//! namespace takes its grants with it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::Namespace;
use kube::ResourceExt;
use kube::api::Api;
use kube::core::PartialObjectMeta;
use kube::core::error_boundary::DeserializeGuard;
use kube::runtime::watcher;
use tokio::sync::Notify;
use tracing::{info, warn};

use super::health::{ConsentSource, Health};
use super::state::State;
use crate::api::CatalogGrant;

const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// Runs one watch for as long as the process runs: a fresh stream (a full re-list) after any
/// error, after a pause of 100 ms doubling to 2 s that starts over once the API server answers.
async fn run<K, S>(
    source: ConsentSource,
    health: Arc<Health>,
    wake: Arc<Notify>,
    stream: impl Fn() -> S,
    mut apply: impl FnMut(watcher::Event<K>),
) where
    S: Stream<Item = Result<watcher::Event<K>, watcher::Error>>,
{
    let mut failures = 0u32;
    loop {
        let s = stream();
        futures::pin_mut!(s);
        while let Some(event) = s.next().await {
            match event {
                Ok(e) => {
                    if !matches!(e, watcher::Event::Init) {
                        failures = 0;
                    }
                    let done = matches!(e, watcher::Event::InitDone);
                    apply(e);
                    if done {
                        health.set_consent_synced(source, true);
                        info!(source = source.name(), "watch synced");
                    }
                    wake.notify_one();
                }
                Err(e) => {
                    health.set_consent_synced(source, false);
                    failures += 1;
                    warn!(source = source.name(), error = %e, "watch failed; re-listing after a pause");
                    break;
                }
            }
        }
        let pause = MIN_BACKOFF
            .saturating_mul(1 << failures.saturating_sub(1).min(8))
            .min(MAX_BACKOFF);
        tokio::time::sleep(pause).await;
    }
}

/// Watches every CatalogGrant.
pub async fn watch_grants(
    client: kube::Client,
    state: Arc<Mutex<State>>,
    health: Arc<Health>,
    wake: Arc<Notify>,
) {
    let api: Api<DeserializeGuard<CatalogGrant>> = Api::all(client);
    run(
        ConsentSource::Grants,
        health,
        wake,
        || watcher(api.clone(), watcher::Config::default()),
        |event| {
            let mut s = state.lock().expect("state lock");
            match event {
                watcher::Event::Init => s.begin_grant_relist(),
                watcher::Event::InitApply(g) | watcher::Event::Apply(g) => {
                    let ns = g.namespace().unwrap_or_default();
                    let name = g.name_any();
                    match &g.0 {
                        Ok(grant) => s.apply_grant(&ns, &name, grant.spec.grant()),
                        Err(e) => {
                            // Admission keeps these out; one that got in grants nothing.
                            warn!(namespace = %ns, %name, error = %e.error, "CatalogGrant does not fit the schema; it grants nothing");
                            s.delete_grant(&ns, &name);
                        }
                    }
                }
                watcher::Event::Delete(g) => {
                    s.delete_grant(&g.namespace().unwrap_or_default(), &g.name_any())
                }
                watcher::Event::InitDone => s.end_grant_relist(),
            }
        },
    )
    .await
}

/// Watches the labels of every Namespace (metadata only).
pub async fn watch_namespaces(
    client: kube::Client,
    state: Arc<Mutex<State>>,
    health: Arc<Health>,
    wake: Arc<Notify>,
) {
    let api: Api<PartialObjectMeta<Namespace>> = Api::all(client);
    run(
        ConsentSource::Namespaces,
        health,
        wake,
        || watcher(api.clone(), watcher::Config::default()),
        |event| {
            let mut s = state.lock().expect("state lock");
            let labels = |m: &PartialObjectMeta<Namespace>| -> BTreeMap<String, String> {
                m.labels().clone()
            };
            match event {
                watcher::Event::Init => s.begin_namespace_relist(),
                watcher::Event::InitApply(n) | watcher::Event::Apply(n) => {
                    s.apply_namespace(&n.name_any(), labels(&n))
                }
                watcher::Event::Delete(n) => s.delete_namespace(&n.name_any()),
                watcher::Event::InitDone => s.end_namespace_relist(),
            }
        },
    )
    .await
}
