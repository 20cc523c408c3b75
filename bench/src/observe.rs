//! Observing statuses through watches: one `watcher` per kind over all namespaces, keeping the
//! objects of the namespaces being measured. For each object the bench keeps its normalised
//! status and, one watch event at a time, the set of objects that differ from the model, so a
//! status write costs the API server one event to the bench, never a list of N objects.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use kube::api::{Api, DynamicObject};
use kube::runtime::{WatchStreamExt, watcher};
use playbill::api::EntityStatus;
use playbill::model::{EntityRef, Kind};
use serde::Deserialize;

use crate::Res;
use crate::catalog::is_ns;
use crate::cluster::Cluster;
use crate::expected::{Model, normalise};

fn status_of(o: &DynamicObject) -> Option<EntityStatus> {
    EntityStatus::deserialize(o.data.get("status")?)
        .ok()
        .map(normalise)
}

/// The bench's view of its objects' statuses, built from one watch per kind, and which of them
/// differ from the model. Each status write costs one watch event and one comparison.
#[derive(Default)]
pub struct View {
    /// The normalised status of every object in the watched namespaces (`None`: no status yet).
    observed: HashMap<String, (Kind, Option<EntityStatus>)>,
    /// What the model says each status should be; an object missing here should not exist.
    expected: HashMap<String, EntityStatus>,
    /// The keys whose observed status differs from the expected one (or exists when it should not).
    pub bad: HashSet<String>,
    /// Per kind, the keys listed since the watch (re)started, while its initial list runs.
    relisting: HashMap<Kind, HashSet<String>>,
    pub synced: HashSet<Kind>,
    events: u64,
}

impl View {
    fn recheck(&mut self, key: &str) {
        let ok = match (self.expected.get(key), self.observed.get(key)) {
            (Some(want), Some((_, Some(have)))) => want == have,
            (None, None) => true,
            _ => false,
        };
        if ok {
            self.bad.remove(key);
        } else {
            self.bad.insert(key.to_owned());
        }
    }

    fn handle(&mut self, kind: Kind, prefix: &str, event: watcher::Event<DynamicObject>) {
        self.events += 1;
        let key_of = |o: &DynamicObject| {
            let ns = o.metadata.namespace.as_deref().unwrap_or("");
            is_ns(ns, prefix)
                .then(|| EntityRef::of(kind, ns, o.metadata.name.as_deref().unwrap_or("")))
                .map(|r| r.to_string())
        };
        match event {
            watcher::Event::Init => {
                self.relisting.insert(kind, HashSet::new());
            }
            watcher::Event::InitApply(o) | watcher::Event::Apply(o) => {
                if let Some(key) = key_of(&o) {
                    self.observed.insert(key.clone(), (kind, status_of(&o)));
                    self.recheck(&key);
                    if let Some(listed) = self.relisting.get_mut(&kind) {
                        listed.insert(key);
                    }
                }
            }
            watcher::Event::Delete(o) => {
                if let Some(key) = key_of(&o) {
                    self.observed.remove(&key);
                    self.recheck(&key);
                }
            }
            watcher::Event::InitDone => {
                // Objects of this kind that the new list did not contain are gone.
                let listed = self.relisting.remove(&kind).unwrap_or_default();
                let gone: Vec<String> = self
                    .observed
                    .iter()
                    .filter(|(k, (kd, _))| *kd == kind && !listed.contains(*k))
                    .map(|(k, _)| k.clone())
                    .collect();
                for key in gone {
                    self.observed.remove(&key);
                    self.recheck(&key);
                }
                self.synced.insert(kind);
            }
        }
    }
}

/// One watch per kind over all namespaces, keeping a `View` of the namespaces `<prefix>0..3`.
pub struct Observer {
    view: Arc<Mutex<View>>,
    changed: tokio::sync::watch::Receiver<u64>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Observer {
    /// Starts the watches and returns once each kind's initial list is in the view.
    pub async fn start(
        cluster: &Cluster,
        prefix: &'static str,
        expected: &HashMap<String, EntityStatus>,
    ) -> Res<Observer> {
        let view = Arc::new(Mutex::new(View {
            expected: expected.clone(),
            bad: expected.keys().cloned().collect(),
            ..View::default()
        }));
        let (tx, changed) = tokio::sync::watch::channel(0u64);
        let tx = Arc::new(tx);
        let tasks = Kind::ALL
            .into_iter()
            .map(|kind| {
                let api: Api<DynamicObject> = cluster.api_all(kind);
                let (view, tx) = (view.clone(), tx.clone());
                tokio::spawn(async move {
                    let mut events =
                        std::pin::pin!(watcher(api, watcher::Config::default()).default_backoff());
                    while let Some(event) = events.next().await {
                        match event {
                            Ok(event) => {
                                view.lock().unwrap().handle(kind, prefix, event);
                                tx.send_modify(|n| *n += 1);
                            }
                            Err(e) => eprintln!("watch of {}: {e}", kind.name()),
                        }
                    }
                })
            })
            .collect();
        let mut observer = Observer {
            view,
            changed,
            tasks,
        };
        let deadline = Instant::now() + Duration::from_secs(120);
        if !observer
            .wait(deadline, |v| v.synced.len() == Kind::ALL.len())
            .await
        {
            return Err("the watches did not list every kind within 120 s".into());
        }
        Ok(observer)
    }

    /// Waits until `done` holds for the view, or `deadline` passes; returns whether it holds.
    pub async fn wait(&mut self, deadline: Instant, done: impl Fn(&View) -> bool) -> bool {
        loop {
            self.changed.borrow_and_update();
            if done(&self.view.lock().unwrap()) {
                return true;
            }
            match tokio::time::timeout_at(deadline.into(), self.changed.changed()).await {
                Ok(Ok(())) => {}
                _ => return false,
            }
        }
    }

    /// Takes the model's current expectation for `keys` (absent: the object should not exist).
    pub fn expect(&self, model: &Model, keys: &[String]) {
        let mut v = self.view.lock().unwrap();
        for key in keys {
            match model.expected.get(key) {
                Some(want) => v.expected.insert(key.clone(), want.clone()),
                None => v.expected.remove(key),
            };
            v.recheck(key);
        }
    }

    /// How many statuses differ from the model, and an example with what it should be and is.
    pub fn mismatches(&self) -> (usize, Option<String>) {
        let v = self.view.lock().unwrap();
        let example = v.bad.iter().next().map(|k| {
            format!(
                "{k}:\n want {:?}\n have {:?}",
                v.expected.get(k),
                v.observed.get(k).map(|(_, s)| s)
            )
        });
        (v.bad.len(), example)
    }

    pub fn events(&self) -> u64 {
        self.view.lock().unwrap().events
    }

    /// Waits until the watches have shown every affected object as the model expects (deleted
    /// ones gone); returns the time since `t0`.
    pub async fn wait_affected(
        &mut self,
        affected: &[String],
        t0: Instant,
        timeout: Duration,
    ) -> Res<Duration> {
        if self
            .wait(t0 + timeout, |v| {
                affected.iter().all(|k| !v.bad.contains(k))
            })
            .await
        {
            Ok(t0.elapsed())
        } else {
            let v = self.view.lock().unwrap();
            let pending: Vec<&String> = affected.iter().filter(|k| v.bad.contains(*k)).collect();
            Err(format!("change not reflected: {pending:?}").into())
        }
    }
}

impl Drop for Observer {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}
