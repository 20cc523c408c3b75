//! The single status writer: drains the index's dirty set, asks [`plan`](super::plan) what to
//! write, and sends it. Only a replica whose lease is valid at the moment of the call writes.
//!
//! Nothing here holds the state lock across an await or for long: candidates are decided in
//! chunks, with the lock released in between, so watches and the lease task keep running while a
//! large catalog is evaluated.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams};
use kube::runtime::events::{Event, EventType, Recorder};
use serde_json::{Map, Value};
use tokio::sync::{Notify, mpsc, watch};
use tracing::{debug, error, info, warn};

use super::health::Health;
use super::lease::Leadership;
use super::plan::{Burst, DEFER_MAX, Decision, Failure, Job, Leading, Pacing, decide};
use super::state::State;
use crate::api::{EntityStatus, GROUP, VERSION};
use crate::metrics::{EntityLabels, Metrics, kind as kind_label};
use crate::model::{EntityRef, Kind};
use crate::status::READY;

/// The field manager of every status write: one owner for all of `status`, whichever replica
/// writes, so a field left out of a write is removed.
pub const FIELD_MANAGER: &str = "playbill";

/// Entities decided per hold of the state lock.
const CHUNK: usize = 256;

/// The server-side-apply body of a status write, applied with [`FIELD_MANAGER`] and `force`.
/// Public so the benchmark's floor sends exactly what the operator sends.
pub fn status_patch(kind: Kind, status: &EntityStatus) -> Value {
    serde_json::json!({
        "apiVersion": format!("{GROUP}/{VERSION}"),
        "kind": kind.name(),
        "status": status,
    })
}

/// A Ready flip to announce as an Event.
pub struct FlipEvent {
    me: EntityRef,
    reference: ObjectReference,
    event: Event,
}

/// Events in flight at once.
const EVENT_CONCURRENCY: usize = 4;
/// An Event not accepted in this long is given up: Events are news, not state.
const EVENT_TIMEOUT: Duration = Duration::from_secs(10);

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
                    let publish = recorder.publish(&flip.event, &flip.reference);
                    match tokio::time::timeout(EVENT_TIMEOUT, publish).await {
                        Ok(Ok(())) => {
                            metrics.events_published.inc();
                        }
                        Ok(Err(e)) => warn!(entity = %flip.me, error = %e, "cannot publish event"),
                        Err(_) => warn!(entity = %flip.me, "event not published in time"),
                    }
                }
            })
            .await;
    });
    tx
}

/// How one write ended.
enum Outcome {
    Written,
    /// Deleted meanwhile; the watch will tell the index.
    Gone,
    /// Not sent: the lease had run out.
    Refused,
    Failed(Failure),
}

/// Every key of the status, so a merge patch can remove the ones a status no longer has.
static STATUS_KEYS: LazyLock<Vec<String>> = LazyLock::new(|| {
    let schema = schemars::schema_for!(EntityStatus);
    schema
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default()
});

/// The body of a JSON merge patch that makes `status` exactly `job.status` plus the other
/// controllers' conditions.
fn merge_body(job: &Job) -> Value {
    let mut status = match serde_json::to_value(&job.status) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    };
    for key in STATUS_KEYS.iter() {
        status.entry(key.clone()).or_insert(Value::Null);
    }
    let mut conditions = job.status.conditions.clone();
    conditions.extend(job.foreign_conditions.iter().cloned());
    status.insert(
        "conditions".into(),
        serde_json::to_value(conditions).unwrap_or(Value::Null),
    );
    serde_json::json!({ "status": status })
}

/// Whether a failed call may pass on a retry.
fn classify(e: &kube::Error) -> Failure {
    match e {
        kube::Error::Api(s) if s.code == 409 || s.code == 429 => Failure::Transient,
        // An object or request too large for etcd will be as large next time.
        kube::Error::Api(s) if s.message.contains("larger than max") => Failure::Permanent,
        kube::Error::Api(s) if s.code >= 500 => Failure::Transient,
        kube::Error::Api(_) => Failure::Permanent,
        _ => Failure::Transient,
    }
}

/// Server-side apply needs the live object converted to its schema; for an object stored with
/// fields of the wrong type that fails, and only a merge patch can write its status.
fn needs_merge_patch(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.message.contains("failed to create typed"))
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
    /// Every API call gives up after this long, so one hung request holds nothing.
    pub timeout: Duration,
    pub leadership: Arc<Leadership>,
    pub health: Arc<Health>,
    pub resources: HashMap<Kind, ApiResource>,
}

impl Writer {
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut pacing = Pacing::default();
        let mut leading = self.leadership.subscribe();
        let mut resync = tokio::time::interval(self.resync);
        resync.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        resync.tick().await;
        let mut burst = Burst::default();
        let mut gain = Leading::default();
        let mut first_pass = true;
        // Statuses naming a missing entity, left for the end of a stream, and since when.
        let mut deferred = Deferred::default();
        let mut stream_since: Option<Instant> = None;
        loop {
            // Leading with a lease that has not run out: a replica whose renewals hang counts as
            // not leading, and counts as gaining the lead again once they succeed.
            let leader = self.leadership.valid();
            self.metrics.leader.set(i64::from(leader));
            if gain.gained(leader) {
                info!("leading: re-evaluating every entity");
                self.state.lock().expect("state lock").index.mark_all();
            }
            let (synced, changes, last_change) = {
                let s = self.state.lock().expect("state lock");
                (s.all_synced(), s.changes, s.last_change)
            };
            // The first pass after start-up writes everything at once: the initial list is a
            // burst that is already over.
            let hold = if first_pass {
                None
            } else {
                burst.hold(Instant::now(), changes, last_change)
            };
            // When the current stream began: its first hold. It ends with a release that is not
            // at the hold's limit.
            if hold.is_some() {
                if stream_since.is_none() {
                    info!("objects are streaming in: holding writes until they pause");
                }
                stream_since.get_or_insert_with(Instant::now);
            } else if !burst.streaming() {
                stream_since = None;
            }
            if synced && hold.is_none() {
                if leader {
                    let streaming = !first_pass && burst.streaming();
                    let defer = streaming && !deferred.overdue(Instant::now());
                    if !defer {
                        deferred.release(&mut self.state.lock().expect("state lock"));
                    }
                    let since = stream_since.filter(|_| defer);
                    self.pass(&mut pacing, &mut deferred, since, &shutdown)
                        .await;
                }
                // The leader after its first pass; a standby once it has seen everything.
                self.health.first_pass_done();
                first_pass = false;
            }
            self.metrics.writes_waiting.set(pacing.waiting() as i64);
            // Only a leader has writes to come back for (a follower never takes them).
            let due = pacing.next_due().filter(|_| leader && synced);
            let next = match (due, hold) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => b.or(a),
            };
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = sleep_until(next) => {}
                _ = resync.tick() => {
                    debug!("periodic resync");
                    let mut s = self.state.lock().expect("state lock");
                    s.index.mark_all();
                    pacing.retain(&s);
                    pacing.expire(Instant::now());
                }
                r = leading.changed() => if r.is_err() { return },
                _ = shutdown.changed() => return,
            }
        }
    }

    /// Writes every status that is due and differs from the observed one: one round. Changes
    /// that arrive while it writes wake the run loop again, which asks [`Burst`] first, so a
    /// stream that outpaces the writes is held rather than chased round after round.
    async fn pass(
        &self,
        pacing: &mut Pacing,
        deferred: &mut Deferred,
        stream_since: Option<Instant>,
        shutdown: &watch::Receiver<bool>,
    ) {
        if *shutdown.borrow() {
            return;
        }
        'round: {
            let now = Instant::now();
            let started = now;
            let (mut candidates, since) = {
                let mut s = self.state.lock().expect("state lock");
                (s.index.take_dirty(), s.pending_since.take())
            };
            candidates.extend(pacing.take_due(now));
            candidates.sort();
            candidates.dedup();
            if candidates.is_empty() {
                break 'round;
            }
            let clock = Time(k8s_openapi::jiff::Timestamp::now());
            let mut jobs = Vec::new();
            for chunk in candidates.chunks(CHUNK) {
                {
                    let s = self.state.lock().expect("state lock");
                    for me in chunk {
                        match decide(&s, pacing, me, now, &clock, stream_since) {
                            Decision::Write(job) => jobs.push(*job),
                            Decision::Wait(until) => pacing.wait(me.clone(), until),
                            Decision::Defer => deferred.add(me.clone(), now),
                            Decision::UpToDate | Decision::Gone => {}
                        }
                    }
                }
                tokio::task::yield_now().await;
            }
            self.metrics
                .resolve_seconds
                .observe(started.elapsed().as_secs_f64());
            if jobs.is_empty() {
                break 'round;
            }
            self.metrics.queue_depth.set(jobs.len() as i64);
            let outcomes: Vec<(EntityRef, Outcome)> = futures::stream::iter(jobs)
                .map(|job| self.write(job))
                .buffer_unordered(self.concurrency)
                .collect()
                .await;
            self.metrics.queue_depth.set(0);
            let done = Instant::now();
            let mut refused = Vec::new();
            for (me, outcome) in outcomes {
                match outcome {
                    Outcome::Written => pacing.succeeded(&me, done),
                    Outcome::Gone => {}
                    Outcome::Refused => refused.push(me),
                    Outcome::Failed(failure) => {
                        let pause = pacing.failed(&me, done, failure);
                        debug!(entity = %me, ?failure, ?pause, "will retry");
                    }
                }
            }
            if let Some(since) = since {
                self.metrics
                    .queue_seconds
                    .observe(since.elapsed().as_secs_f64());
            }
            if !refused.is_empty() {
                // Whoever leads now writes. Should this replica's lease become valid again, it
                // re-evaluates everything; these are kept dirty all the same.
                let mut s = self.state.lock().expect("state lock");
                for me in &refused {
                    s.index.mark(me);
                }
                break 'round;
            }
        }
        self.update_gauges();
    }

    async fn write(&self, job: Job) -> (EntityRef, Outcome) {
        let label = kind_label(job.kind);
        let started = Instant::now();
        let mut sent = self.send(&job, job.merge).await;
        if !job.merge
            && sent
                .as_ref()
                .is_some_and(|r| r.as_ref().is_err_and(needs_merge_patch))
        {
            sent = self.send(&job, true).await;
        }
        let Some(result) = sent else {
            self.metrics.writes_refused.inc();
            debug!(entity = %job.me, "lease not valid; write not sent");
            return (job.me, Outcome::Refused);
        };
        self.metrics
            .write_seconds
            .observe(started.elapsed().as_secs_f64());
        let outcome = match result {
            Ok(obj) => {
                self.metrics.status_writes.get_or_create(&label).inc();
                debug!(entity = %job.me, "status written");
                let status = obj
                    .data
                    .get("status")
                    .and_then(|s| serde_json::from_value(s.clone()).ok());
                self.state.lock().expect("state lock").written(
                    &job.me,
                    status,
                    obj.metadata.resource_version,
                );
                if let Some(flip) = &job.flip {
                    self.publish(&job, flip.ready, &flip.reason, &flip.message);
                }
                Outcome::Written
            }
            Err(kube::Error::Api(status)) if status.is_not_found() => Outcome::Gone,
            Err(e) => {
                self.metrics.status_write_errors.get_or_create(&label).inc();
                let failure = classify(&e);
                match failure {
                    Failure::Transient => {
                        warn!(entity = %job.me, error = %e, "status write failed; will retry")
                    }
                    Failure::Permanent => {
                        error!(entity = %job.me, error = %e, "status write refused by the API server; will retry slowly")
                    }
                }
                Outcome::Failed(failure)
            }
        };
        (job.me, outcome)
    }

    /// One status patch, with a timeout; `None` when it was not sent because this replica's lease
    /// is not valid. The lease is checked right before each call, a fallback's included.
    async fn send(&self, job: &Job, merge: bool) -> Option<Result<DynamicObject, kube::Error>> {
        if !self.leadership.valid() {
            return None;
        }
        let ar = &self.resources[&job.kind];
        let api: Api<DynamicObject> = Api::namespaced_with(self.client.clone(), &job.namespace, ar);
        let call = async {
            if merge {
                let body = merge_body(job);
                api.patch_status(
                    &job.name,
                    &PatchParams {
                        field_manager: Some(FIELD_MANAGER.to_owned()),
                        ..PatchParams::default()
                    },
                    &Patch::Merge(&body),
                )
                .await
            } else {
                let body = status_patch(job.kind, &job.status);
                api.patch_status(
                    &job.name,
                    &PatchParams::apply(FIELD_MANAGER).force(),
                    &Patch::Apply(&body),
                )
                .await
            }
        };
        Some(match tokio::time::timeout(self.timeout, call).await {
            Ok(result) => result,
            Err(_) => Err(kube::Error::Service(
                format!("no answer within {:?}", self.timeout).into(),
            )),
        })
    }

    /// Hands the Event to the publisher, or drops it (counted) if thousands are already queued.
    fn publish(&self, job: &Job, ready: bool, reason: &str, message: &str) {
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
        // Never wait for the publisher: a status write must not be held up by Events.
        if let Err(e) = self.events.try_send(flip) {
            self.metrics.events_dropped.inc();
            debug!(entity = %job.me, error = %e, "event dropped");
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

/// Statuses left for the end of a stream: they name an entity that has not arrived yet, or were
/// already written during it.
#[derive(Default)]
struct Deferred {
    refs: HashSet<EntityRef>,
    since: Option<Instant>,
}

impl Deferred {
    fn add(&mut self, me: EntityRef, now: Instant) {
        self.since.get_or_insert(now);
        self.refs.insert(me);
    }

    /// A stream that never ends must not hide a missing entity for ever.
    fn overdue(&self, now: Instant) -> bool {
        self.since
            .is_some_and(|t| now.saturating_duration_since(t) >= DEFER_MAX)
    }

    /// The stream is over (or it has taken too long): back into the dirty set with them.
    fn release(&mut self, state: &mut State) {
        for me in self.refs.drain() {
            state.index.mark(&me);
        }
        self.since = None;
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(t) => tokio::time::sleep_until(t.into()).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_merge_patch_removes_what_the_status_no_longer_has_and_keeps_foreign_conditions() {
        let job = Job {
            me: EntityRef::of(Kind::Group, "n", "g"),
            kind: Kind::Group,
            namespace: "n".into(),
            name: "g".into(),
            uid: None,
            status: EntityStatus {
                entity_ref: Some("group:n/g".into()),
                ..EntityStatus::default()
            },
            foreign_conditions: vec![k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition {
                type_: "Synced".into(),
                status: "True".into(),
                reason: "R".into(),
                message: String::new(),
                observed_generation: None,
                last_transition_time: Time(Default::default()),
            }],
            merge: true,
            flip: None,
        };
        let body = merge_body(&job);
        let status = body["status"].as_object().unwrap();
        assert_eq!(status["entityRef"], "group:n/g");
        assert_eq!(status["relations"], Value::Null);
        assert_eq!(status["unresolvedRefs"], Value::Null);
        assert_eq!(status["conditions"][0]["type"], "Synced");
        assert!(STATUS_KEYS.len() >= 10, "{:?}", *STATUS_KEYS);
    }

    #[test]
    fn errors_are_classified() {
        let api = |code: u16, message: &str| {
            kube::Error::Api(Box::new(
                kube::core::Status::failure(message, "x").with_code(code),
            ))
        };
        assert_eq!(classify(&api(409, "conflict")), Failure::Transient);
        assert_eq!(classify(&api(429, "slow down")), Failure::Transient);
        assert_eq!(classify(&api(503, "unavailable")), Failure::Transient);
        assert_eq!(
            classify(&api(
                500,
                "etcdserver: request is too large; larger than max"
            )),
            Failure::Permanent
        );
        assert_eq!(classify(&api(422, "invalid")), Failure::Permanent);
        assert_eq!(classify(&api(403, "forbidden")), Failure::Permanent);
        assert!(needs_merge_patch(&api(
            500,
            "failed to create typed live object: .spec.lifecycle: expected string"
        )));
        assert!(!needs_merge_patch(&api(500, "other")));
    }
}
