//! The single status writer: drains the index's dirty set, compares each entity's desired
//! status with the one observed on the API server, and patches only those that differ. Only the
//! leader writes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams};
use kube::runtime::events::{Event, EventType, Recorder};
use tokio::sync::{Notify, mpsc, watch};
use tracing::{debug, info, warn};

use super::state::State;
use crate::api::{EntityStatus, GROUP, VERSION};
use crate::metrics::{EntityLabels, Metrics, kind as kind_label};
use crate::model::{EntityRef, Kind};
use crate::status::{READY, ready_flip, to_write};

/// The field manager of every status write: one owner for all of `status`.
pub const FIELD_MANAGER: &str = "playbill";

/// The server-side-apply body of a status write, applied with [`FIELD_MANAGER`] and `force`.
/// Public so the benchmark's floor sends exactly what the operator sends.
pub fn status_patch(kind: Kind, status: &EntityStatus) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": format!("{GROUP}/{VERSION}"),
        "kind": kind.name(),
        "status": status,
    })
}

/// One status to write.
struct Job {
    me: EntityRef,
    kind: Kind,
    namespace: String,
    name: String,
    uid: Option<String>,
    status: EntityStatus,
    /// The new Ready value when it flips from a previous one (or starts out False).
    event: Option<(bool, String, String)>,
}

/// A Ready flip to announce as an Event.
pub struct FlipEvent {
    me: EntityRef,
    reference: ObjectReference,
    event: Event,
}

/// Events in flight at once.
const EVENT_CONCURRENCY: usize = 4;

/// Publishes Ready-flip Events off the write path. Awaited inline, each Event would hold a write
/// slot for a second API call: deleting a Group that 800 entities point at would then take twice
/// as long to show in their statuses. Ends when every sender is gone.
pub fn spawn_event_publisher(recorder: Recorder, metrics: Arc<Metrics>) -> mpsc::Sender<FlipEvent> {
    let (tx, rx) = mpsc::channel::<FlipEvent>(4096);
    tokio::spawn(async move {
        let events =
            futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|e| (e, rx)) });
        events
            .for_each_concurrent(EVENT_CONCURRENCY, |flip| {
                let (recorder, metrics) = (&recorder, &metrics);
                async move {
                    match recorder.publish(&flip.event, &flip.reference).await {
                        Ok(()) => {
                            metrics.events_published.inc();
                        }
                        Err(e) => warn!(entity = %flip.me, error = %e, "cannot publish event"),
                    }
                }
            })
            .await;
    });
    tx
}

pub struct Writer {
    pub client: kube::Client,
    pub state: Arc<Mutex<State>>,
    pub wake: Arc<Notify>,
    pub metrics: Arc<Metrics>,
    /// Where Ready-flip Events go; see [`spawn_event_publisher`].
    pub events: mpsc::Sender<FlipEvent>,
    pub concurrency: usize,
    pub resync: Duration,
    pub leader: watch::Receiver<bool>,
    pub ready: Arc<AtomicBool>,
    pub resources: HashMap<Kind, ApiResource>,
}

impl Writer {
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let mut resync = tokio::time::interval(self.resync);
        resync.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        resync.tick().await;
        let mut was_leader = false;
        loop {
            let leader = *self.leader.borrow();
            self.metrics.leader.set(i64::from(leader));
            if leader && !was_leader {
                info!("leading: re-evaluating every entity");
                self.state.lock().expect("state lock").index.mark_all();
            }
            was_leader = leader;
            let synced = self.state.lock().expect("state lock").all_synced();
            if leader && synced {
                let failed = self.pass().await;
                self.ready.store(true, Ordering::SeqCst);
                if failed > 0 {
                    // Retry what failed after a pause; the failed entities were marked again.
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            } else if synced {
                // A standby replica is ready once its watches have synced.
                self.ready.store(true, Ordering::SeqCst);
            }
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = resync.tick() => {
                    debug!("periodic resync");
                    self.state.lock().expect("state lock").index.mark_all();
                }
                r = self.leader.changed() => if r.is_err() { return },
                _ = shutdown.changed() => return,
            }
        }
    }

    /// Writes every status that differs from the observed one, until nothing is left. Returns
    /// how many writes failed.
    async fn pass(&self) -> usize {
        let mut failed = 0;
        loop {
            let started = Instant::now();
            let (jobs, since) = self.collect();
            self.metrics
                .resolve_seconds
                .observe(started.elapsed().as_secs_f64());
            if jobs.is_empty() {
                break;
            }
            self.metrics.queue_depth.set(jobs.len() as i64);
            let results: Vec<bool> = futures::stream::iter(jobs)
                .map(|job| self.write(job))
                .buffer_unordered(self.concurrency)
                .collect()
                .await;
            failed += results.iter().filter(|ok| !**ok).count();
            self.metrics.queue_depth.set(0);
            if let Some(since) = since {
                self.metrics
                    .queue_seconds
                    .observe(since.elapsed().as_secs_f64());
            }
            if failed > 0 {
                break;
            }
        }
        self.update_gauges();
        failed
    }

    /// The statuses to write now: dirty entities whose desired status is not what is observed.
    fn collect(&self) -> (Vec<Job>, Option<Instant>) {
        let mut s = self.state.lock().expect("state lock");
        let since = s.pending_since.take();
        let now = Time(k8s_openapi::jiff::Timestamp::now());
        let dirty = s.index.take_dirty();
        let mut jobs = Vec::new();
        for me in dirty {
            let (Some(desired), Some(obs)) = (s.index.desired(&me), s.objects.get(&me)) else {
                continue;
            };
            let Some(status) = to_write(&desired, obs.status.as_ref(), &now) else {
                continue;
            };
            let first = obs
                .status
                .as_ref()
                .is_none_or(|st| !st.conditions.iter().any(|c| c.type_ == READY));
            let event = ready_flip(&desired, obs.status.as_ref())
                .filter(|ready| !(first && *ready))
                .map(|ready| {
                    (
                        ready,
                        desired.readiness.reason.to_owned(),
                        desired.readiness.message.clone(),
                    )
                });
            jobs.push(Job {
                status,
                me,
                kind: obs.kind,
                namespace: obs.namespace.clone(),
                name: obs.name.clone(),
                uid: obs.uid.clone(),
                event,
            });
        }
        (jobs, since)
    }

    async fn write(&self, job: Job) -> bool {
        let ar = &self.resources[&job.kind];
        let api: Api<DynamicObject> = Api::namespaced_with(self.client.clone(), &job.namespace, ar);
        let patch = status_patch(job.kind, &job.status);
        let label = kind_label(job.kind);
        let started = Instant::now();
        let result = api
            .patch_status(
                &job.name,
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(&patch),
            )
            .await;
        self.metrics
            .write_seconds
            .observe(started.elapsed().as_secs_f64());
        match result {
            Ok(obj) => {
                self.metrics.status_writes.get_or_create(&label).inc();
                debug!(entity = %job.me, "status written");
                self.state
                    .lock()
                    .expect("state lock")
                    .written(&job.me, &obj);
                if let Some((ready, reason, message)) = &job.event {
                    self.publish(&job, *ready, reason, message).await;
                }
                true
            }
            Err(kube::Error::Api(status)) if status.is_not_found() => {
                // Deleted meanwhile; the watch will tell the index.
                true
            }
            Err(e) => {
                self.metrics.status_write_errors.get_or_create(&label).inc();
                warn!(entity = %job.me, error = %e, "status write failed; will retry");
                self.state.lock().expect("state lock").index.mark(&job.me);
                false
            }
        }
    }

    /// Hands the Event to the publisher: it waits only if thousands are already queued.
    async fn publish(&self, job: &Job, ready: bool, reason: &str, message: &str) {
        let reference = ObjectReference {
            api_version: Some(format!("{GROUP}/{VERSION}")),
            kind: Some(job.kind.name().to_owned()),
            name: Some(job.name.clone()),
            namespace: Some(job.namespace.clone()),
            uid: job.uid.clone(),
            ..ObjectReference::default()
        };
        let event = Event {
            type_: if ready {
                EventType::Normal
            } else {
                EventType::Warning
            },
            reason: reason.to_owned(),
            note: Some(message.chars().take(1024).collect()),
            action: "Resolve".to_owned(),
            secondary: None,
        };
        let flip = FlipEvent {
            me: job.me.clone(),
            reference,
            event,
        };
        if self.events.send(flip).await.is_err() {
            warn!(entity = %job.me, "event publisher stopped; event dropped");
        }
    }

    fn update_gauges(&self) {
        let s = self.state.lock().expect("state lock");
        let mut counts: HashMap<(Kind, &str), i64> = HashMap::new();
        for o in s.objects.values() {
            let ready = o
                .status
                .as_ref()
                .and_then(|st| st.conditions.iter().find(|c| c.type_ == READY))
                .map_or("Unknown", |c| c.status.as_str());
            let ready = match ready {
                "True" => "true",
                "False" => "false",
                _ => "unknown",
            };
            *counts.entry((o.kind, ready)).or_default() += 1;
        }
        for kind in Kind::ALL {
            for ready in ["true", "false", "unknown"] {
                let n = counts.get(&(kind, ready)).copied().unwrap_or(0);
                self.metrics
                    .entities
                    .get_or_create(&EntityLabels {
                        kind: kind.name().to_owned(),
                        ready: ready.to_owned(),
                    })
                    .set(n);
            }
        }
    }
}
