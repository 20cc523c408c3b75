//! Deciding which statuses the writer sends, and when. Pure: no I/O, and time is passed in, so
//! the writer's behaviour is tested here without an API server.
//!
//! Retries. A status is written as soon as it differs from the observed one. A failed write is
//! retried per entity with exponential backoff, so one entity that cannot be written never delays
//! any other.
//!
//! Streams. When objects keep arriving — [`BURST_RATE`] or more changes a second, as during a
//! `kubectl apply` of a directory, an Argo CD sync or an edit storm — most statuses would be
//! written only to be rewritten when the next object arrives: a hub Group gains an `ownerOf` with
//! every Component, an API an `apiProvidedBy` with every provider, a Component resolves its owner
//! only once the Group arrives. So while a stream lasts, writes wait until it pauses for
//! [`BURST_QUIET`] (at most [`BURST_HOLD_MAX`]), and then each changed status is written once.
//! Changes made one after another by someone who waits for each status (a person, a script, the
//! benchmark) stay below that rate and are never held.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use super::state::State;
use crate::api::EntityStatus;
use crate::index::ProblemReason;
use crate::model::{EntityRef, Kind};
use crate::status::{READY, Reason, ready_flip, to_write};

/// The longest a status naming a missing entity is left unwritten while a stream goes on.
pub const DEFER_MAX: Duration = Duration::from_secs(300);
/// The first retry after a failed write, doubling per failure.
const RETRY_BASE: Duration = Duration::from_millis(200);
/// Retries of errors that may pass (conflicts, throttling, server errors, timeouts).
const RETRY_MAX: Duration = Duration::from_secs(30);
/// Retries of errors that will not pass by themselves (the request is refused as it is); they
/// are still retried, slowly, because RBAC or a webhook may be fixed meanwhile.
const RETRY_MAX_PERMANENT: Duration = Duration::from_secs(300);

/// Changes per second from which a stream begins. `kubectl apply` of a directory and an Argo CD
/// sync run at 40–120 a second on a quiet machine; a client that waits for each status before its
/// next change (the benchmark's change trials) makes about 16.
pub const BURST_RATE: u64 = 30;
/// Changes per second below which a stream has ended: once objects stream in, the API server is
/// busy and the rate of each slows, which must not end the stream.
pub const BURST_RATE_STAY: u64 = 5;
/// During a stream, writes wait until no change has come for this long...
pub const BURST_QUIET: Duration = Duration::from_secs(1);
/// ...or for this long at most, so a stream that never pauses still shows progress.
pub const BURST_HOLD_MAX: Duration = Duration::from_secs(30);
/// The window the rate is measured over.
const BURST_WINDOW: Duration = Duration::from_secs(2);

/// Tells whether writes should wait for a burst of changes to pause.
#[derive(Debug, Default)]
pub struct Burst {
    /// (when, the change counter then), oldest first, covering the last [`BURST_WINDOW`].
    samples: VecDeque<(Instant, u64)>,
    hold_since: Option<Instant>,
    /// The last hold ended at its limit while changes were still coming.
    streaming: bool,
}

impl Burst {
    /// Until when writes should wait, given the state's change counter and its latest change;
    /// `None` to write now.
    pub fn hold(
        &mut self,
        now: Instant,
        changes: u64,
        last_change: Option<Instant>,
    ) -> Option<Instant> {
        // Keep one sample at least a window old as the baseline, so the rate is right however
        // seldom this is called.
        while self
            .samples
            .get(1)
            .is_some_and(|(t, _)| now.saturating_duration_since(*t) >= BURST_WINDOW)
        {
            self.samples.pop_front();
        }
        let (since_t, since_c) = self.samples.front().copied().unwrap_or((now, changes));
        self.samples.push_back((now, changes));
        let elapsed = now.saturating_duration_since(since_t).max(BURST_WINDOW);
        let per_second = changes.saturating_sub(since_c) as f64 / elapsed.as_secs_f64();
        let in_stream = self.hold_since.is_some() || self.streaming;
        let threshold = if in_stream {
            BURST_RATE_STAY
        } else {
            BURST_RATE
        };
        self.streaming = false;
        if per_second < threshold as f64 {
            self.hold_since = None;
            return None;
        }
        let since = *self.hold_since.get_or_insert(now);
        let quiet = last_change.map_or(now, |t| t + BURST_QUIET);
        let until = quiet.min(since + BURST_HOLD_MAX);
        if until <= now {
            // Released: the next hold, if the burst goes on, starts from here.
            self.hold_since = None;
            self.streaming = quiet > now;
            return None;
        }
        Some(until)
    }

    /// Whether writes were released only because the hold reached its limit, with the stream
    /// still going: statuses that name a missing entity are then better left for its end, since
    /// the entity is likely on its way.
    pub fn streaming(&self) -> bool {
        self.streaming
    }
}

/// Tells when leadership was gained: the new leader must re-evaluate every entity, because the
/// previous one may have left statuses unwritten, and while this replica followed it wrote
/// nothing.
#[derive(Debug, Default)]
pub struct Leading {
    was: bool,
}

impl Leading {
    /// Records whether this replica leads now; true when it just started to.
    pub fn gained(&mut self, leading: bool) -> bool {
        let gained = leading && !self.was;
        self.was = leading;
        gained
    }
}

/// A Ready flip to announce as an Event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flip {
    pub ready: bool,
    pub reason: String,
    pub message: String,
}

/// One status to write.
#[derive(Clone, Debug, PartialEq)]
pub struct Job {
    pub me: EntityRef,
    pub kind: Kind,
    pub namespace: String,
    pub name: String,
    pub uid: Option<String>,
    /// The whole status this operator owns.
    pub status: EntityStatus,
    /// Conditions of other controllers on the object: left alone, and carried over when the
    /// status is written with a merge patch (which replaces the list).
    pub foreign_conditions: Vec<Condition>,
    /// Write with a JSON merge patch: the object does not fit its schema, and server-side apply
    /// refuses objects the API server cannot convert to it.
    pub merge: bool,
    pub flip: Option<Flip>,
}

/// What to do about one entity now.
#[derive(Clone, Debug, PartialEq)]
pub enum Decision {
    Write(Box<Job>),
    /// Observed already says what the index says.
    UpToDate,
    /// Not before then (settling or backing off).
    Wait(Instant),
    /// Not in the catalog any more.
    Gone,
    /// Names an entity that does not exist, while objects are still streaming in: left for the
    /// end of the stream.
    Defer,
}

/// How a failed write is retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// Conflict, throttling, a server error, a timeout, no connection.
    Transient,
    /// The request itself is refused (invalid, forbidden, too large).
    Permanent,
}

#[derive(Clone, Debug, Default)]
struct Pace {
    last_write: Option<Instant>,
    retry_at: Option<Instant>,
    failures: u32,
}

/// Per-entity timing of writes.
#[derive(Debug, Default)]
pub struct Pacing {
    paces: HashMap<EntityRef, Pace>,
    /// Entities with a write to do that had to wait, and until when.
    waiting: HashMap<EntityRef, Instant>,
}

impl Pacing {
    /// When `me` may be written, if not now.
    fn not_before(&self, me: &EntityRef, now: Instant) -> Option<Instant> {
        let p = self.paces.get(me)?;
        p.retry_at.filter(|due| *due > now)
    }

    /// Whether `me` was written at or after `since`.
    pub fn written_since(&self, me: &EntityRef, since: Instant) -> bool {
        self.paces
            .get(me)
            .and_then(|p| p.last_write)
            .is_some_and(|t| t >= since)
    }

    pub fn wait(&mut self, me: EntityRef, until: Instant) {
        self.waiting.insert(me, until);
    }

    /// The waiting entities whose time has come.
    pub fn take_due(&mut self, now: Instant) -> Vec<EntityRef> {
        let due: Vec<EntityRef> = self
            .waiting
            .iter()
            .filter(|(_, t)| **t <= now)
            .map(|(r, _)| r.clone())
            .collect();
        for r in &due {
            self.waiting.remove(r);
        }
        due
    }

    /// When the next waiting entity is due.
    pub fn next_due(&self) -> Option<Instant> {
        self.waiting.values().min().copied()
    }

    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }

    pub fn succeeded(&mut self, me: &EntityRef, now: Instant) {
        let p = self.paces.entry(me.clone()).or_default();
        p.last_write = Some(now);
        p.retry_at = None;
        p.failures = 0;
    }

    /// Records a failure and returns the pause before the next attempt.
    pub fn failed(&mut self, me: &EntityRef, now: Instant, failure: Failure) -> Duration {
        let p = self.paces.entry(me.clone()).or_default();
        p.failures += 1;
        let cap = match failure {
            Failure::Transient => RETRY_MAX,
            Failure::Permanent => RETRY_MAX_PERMANENT,
        };
        let pause = RETRY_BASE
            .saturating_mul(1 << (p.failures - 1).min(16))
            .min(cap);
        p.retry_at = Some(now + pause);
        self.waiting.insert(me.clone(), now + pause);
        pause
    }

    /// Forgets entities that left the catalog, so the table does not grow without bound.
    pub fn retain(&mut self, state: &State) {
        self.paces.retain(|r, _| state.objects.contains_key(r));
        self.waiting.retain(|r, _| state.objects.contains_key(r));
    }

    /// Forgets pacing that no longer matters (no retry due, no write within the longest a stream
    /// defers), keeping memory flat.
    pub fn expire(&mut self, now: Instant) {
        let stale = |p: &Pace| {
            p.retry_at.is_none()
                && p.last_write
                    .is_none_or(|t| now.saturating_duration_since(t) > DEFER_MAX * 2)
        };
        self.paces.retain(|_, p| !stale(p));
    }
}

/// The Ready condition in a status; the only condition this operator owns.
fn ours(observed: &EntityStatus) -> (EntityStatus, Vec<Condition>) {
    let mut mine = observed.clone();
    let (ready, foreign): (Vec<Condition>, Vec<Condition>) = std::mem::take(&mut mine.conditions)
        .into_iter()
        .partition(|c| c.type_ == READY);
    mine.conditions = ready;
    (mine, foreign)
}

/// What to do about `me` at `now`; `clock` stamps a Ready flip.
pub fn decide(
    state: &State,
    pacing: &Pacing,
    me: &EntityRef,
    now: Instant,
    clock: &Time,
    stream_since: Option<Instant>,
) -> Decision {
    let (Some(mut desired), Some(obs)) = (
        crate::status::desired(&state.index, me),
        state.objects.get(me),
    ) else {
        return Decision::Gone;
    };
    desired.status.unknown_fields = obs.unknown_fields.clone();
    let (mine, foreign_conditions) = match &obs.status {
        Some(s) => {
            let (m, f) = ours(s);
            (Some(m), f)
        }
        None => (None, Vec::new()),
    };
    let Some(status) = to_write(&desired, mine.as_ref(), clock) else {
        return Decision::UpToDate;
    };
    if let Some(until) = pacing.not_before(me, now) {
        return Decision::Wait(until);
    }
    if let Some(since) = stream_since {
        // Mid-stream, write only what is likely final: an entity that names a missing one will
        // change when it arrives, and one already written during the stream (a hub gaining a
        // relation with every object) will change again.
        let missing = status
            .unresolved_refs
            .iter()
            .any(|u| u.reason == ProblemReason::NotFound.as_str());
        if missing || pacing.written_since(me, since) {
            return Decision::Defer;
        }
    }
    let first = mine
        .as_ref()
        .is_none_or(|st| !st.conditions.iter().any(|c| c.type_ == READY));
    // An entity that starts out Ready is not news; one that starts out not Ready is.
    let flip = ready_flip(&desired, mine.as_ref())
        .filter(|ready| !(first && *ready))
        .map(|ready| Flip {
            ready,
            reason: desired.readiness.reason.to_owned(),
            message: desired.readiness.message.clone(),
        });
    Decision::Write(Box::new(Job {
        me: me.clone(),
        kind: obs.kind,
        namespace: obs.namespace.clone(),
        name: obs.name.clone(),
        uid: obs.uid.clone(),
        status,
        foreign_conditions,
        merge: obs.invalid,
        flip,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::state::{Decoded, ObjectMeta};
    use crate::index::RelationIndex;
    use crate::model::{Entity, RawRef};

    fn clock(secs: i64) -> Time {
        Time(k8s_openapi::jiff::Timestamp::from_second(secs).unwrap())
    }

    fn meta(kind_name: &str, rv: u32) -> ObjectMeta {
        ObjectMeta {
            namespace: "n".into(),
            name: kind_name.into(),
            uid: Some(format!("uid-{kind_name}")),
            resource_version: Some(rv.to_string()),
            generation: Some(1),
        }
    }

    fn entity(kind: Kind, name: &str, refs: &[(&'static str, &str)]) -> Entity {
        Entity {
            kind,
            namespace: "n".into(),
            name: name.into(),
            refs: refs
                .iter()
                .map(|(field, value)| RawRef {
                    field,
                    index: None,
                    value: (*value).into(),
                })
                .collect(),
        }
    }

    /// Applies an object as the watch would, with the status it carries.
    fn apply(s: &mut State, e: Entity, status: Option<EntityStatus>) {
        let m = meta(&e.name, 1);
        let kind = e.kind;
        let decoded = Decoded::Entity {
            entity: e,
            status,
            unknown_fields: Vec::new(),
        };
        s.apply(kind, m, decoded);
    }

    fn r(kind: Kind, name: &str) -> EntityRef {
        EntityRef::of(kind, "n", name)
    }

    /// Plans every dirty entity, as one pass of the writer does.
    fn plan(s: &mut State, pacing: &Pacing, now: Instant) -> Vec<(EntityRef, Decision)> {
        let dirty = s.index.take_dirty();
        dirty
            .into_iter()
            .map(|me| {
                let d = decide(s, pacing, &me, now, &clock(100), None);
                (me, d)
            })
            .collect()
    }

    fn job(d: &Decision) -> &Job {
        match d {
            Decision::Write(j) => j,
            other => panic!("expected a write, got {other:?}"),
        }
    }

    fn catalog() -> State {
        let mut s = State::new(RelationIndex::default());
        apply(&mut s, entity(Kind::Group, "team", &[]), None);
        apply(
            &mut s,
            entity(
                Kind::Component,
                "web",
                &[("owner", "team"), ("system", "shop")],
            ),
            None,
        );
        s
    }

    #[test]
    fn a_new_catalog_plans_one_write_per_entity_with_exactly_the_desired_status() {
        let mut s = catalog();
        let now = Instant::now();
        let planned = plan(&mut s, &Pacing::default(), now);
        assert_eq!(planned.len(), 2);
        let web = job(&planned[0].1);
        assert_eq!(web.me, r(Kind::Component, "web"));
        let rels: Vec<(&str, &str)> = web
            .status
            .relations
            .iter()
            .map(|r| (r.type_.as_str(), r.target_ref.as_str()))
            .collect();
        assert_eq!(
            rels,
            [("ownedBy", "group:n/team"), ("partOf", "system:n/shop")]
        );
        assert_eq!(web.status.unresolved_refs.len(), 1);
        let ready = &web.status.conditions[0];
        assert_eq!(
            (ready.status.as_str(), ready.reason.as_str()),
            ("False", "UnresolvedReferences")
        );
        assert_eq!(ready.last_transition_time, clock(100));
        // Starting out not Ready is announced; starting out Ready is not.
        assert_eq!(web.flip.as_ref().map(|f| f.ready), Some(false));
        let team = job(&planned[1].1);
        assert_eq!(team.status.owns, Some(1));
        assert_eq!(team.flip, None);
        assert!(!web.merge && web.foreign_conditions.is_empty());
    }

    #[test]
    fn what_is_already_written_is_not_written_again() {
        let mut s = catalog();
        let now = Instant::now();
        for (me, d) in plan(&mut s, &Pacing::default(), now) {
            let j = job(&d);
            s.written(&me, Some(j.status.clone()), Some("2".into()));
        }
        s.index.mark_all();
        let planned = plan(&mut s, &Pacing::default(), now);
        assert!(
            planned.iter().all(|(_, d)| *d == Decision::UpToDate),
            "{planned:?}"
        );
    }

    /// Unknown keys are warnings: listed in the status, written once, Ready untouched.
    #[test]
    fn unknown_keys_are_listed_in_the_status_without_churn() {
        let mut s = catalog();
        let now = Instant::now();
        for (me, d) in plan(&mut s, &Pacing::default(), now) {
            s.written(&me, Some(job(&d).status.clone()), Some("2".into()));
        }
        let web = entity(
            Kind::Component,
            "web",
            &[("owner", "team"), ("system", "shop")],
        );
        let warning = crate::api::unknown_fields(Kind::Component, ["sytem"], None);
        let decoded = Decoded::Entity {
            entity: web,
            status: s.objects[&r(Kind::Component, "web")].status.clone(),
            unknown_fields: warning.clone(),
        };
        s.apply(Kind::Component, meta("web", 3), decoded);
        let planned = plan(&mut s, &Pacing::default(), now);
        assert_eq!(planned.len(), 1, "{planned:?}");
        let j = job(&planned[0].1);
        assert_eq!(j.status.unknown_fields, warning);
        assert_eq!(
            warning[0].message,
            "spec.sytem is not a field of Component; did you mean spec.system?"
        );
        assert_eq!(j.status.conditions[0].reason, "UnresolvedReferences");
        assert_eq!(j.flip, None, "a warning does not flip Ready");
        s.written(&j.me.clone(), Some(j.status.clone()), Some("4".into()));
        s.index.mark_all();
        let again = plan(&mut s, &Pacing::default(), now);
        assert!(
            again.iter().all(|(_, d)| *d == Decision::UpToDate),
            "{again:?}"
        );
    }

    #[test]
    fn another_controllers_condition_is_left_alone_and_causes_no_write() {
        let mut s = catalog();
        let now = Instant::now();
        let planned = plan(&mut s, &Pacing::default(), now);
        let mut written = job(&planned[1].1).status.clone();
        let foreign = Condition {
            type_: "Synced".into(),
            status: "True".into(),
            reason: "Other".into(),
            message: String::new(),
            observed_generation: None,
            last_transition_time: clock(5),
        };
        written.conditions.push(foreign.clone());
        let team = entity(Kind::Group, "team", &[]);
        apply(&mut s, team, Some(written));
        s.index.mark_all();
        let planned = plan(&mut s, &Pacing::default(), now);
        assert_eq!(
            planned
                .iter()
                .find(|(me, _)| *me == r(Kind::Group, "team"))
                .map(|(_, d)| d),
            Some(&Decision::UpToDate)
        );
        // When something does change, the foreign condition travels with a merge patch.
        apply(
            &mut s,
            entity(Kind::User, "jdoe", &[("memberOf", "team")]),
            None,
        );
        let planned = plan(&mut s, &Pacing::default(), now);
        let team = planned
            .iter()
            .find(|(me, _)| *me == r(Kind::Group, "team"))
            .map(|(_, d)| job(d))
            .unwrap();
        assert_eq!(team.foreign_conditions, vec![foreign]);
        assert!(team.status.conditions.iter().all(|c| c.type_ == READY));
    }

    #[test]
    fn an_unreadable_object_is_planned_as_a_merge_patch_with_invalid_spec() {
        let mut s = State::new(RelationIndex::default());
        s.apply(
            Kind::Component,
            meta("broken", 3),
            Decoded::Invalid("spec cannot be read: lifecycle: invalid type".into()),
        );
        let planned = plan(&mut s, &Pacing::default(), Instant::now());
        let j = job(&planned[0].1);
        assert!(j.merge);
        assert_eq!(j.status.conditions[0].reason, "InvalidSpec");
        assert_eq!(j.status.observed_generation, Some(1));
    }

    #[test]
    fn a_backing_off_entity_is_planned_to_wait_and_comes_back_when_due() {
        let mut s = catalog();
        let mut pacing = Pacing::default();
        let t0 = Instant::now();
        let web = r(Kind::Component, "web");
        // web's first write failed; the index marks it again (the System appears).
        let pause = pacing.failed(&web, t0, Failure::Transient);
        pacing.take_due(t0 + pause);
        apply(
            &mut s,
            entity(Kind::System, "shop", &[("owner", "team")]),
            None,
        );
        let planned = plan(&mut s, &pacing, t0);
        let waiting: Vec<_> = planned
            .iter()
            .filter_map(|(me, d)| match d {
                Decision::Wait(t) => Some((me.clone(), *t)),
                _ => None,
            })
            .collect();
        assert_eq!(waiting, vec![(web.clone(), t0 + pause)], "{planned:?}");
        for (me, t) in waiting {
            pacing.wait(me, t);
        }
        assert_eq!(pacing.take_due(t0), Vec::<EntityRef>::new());
        assert_eq!(pacing.next_due(), Some(t0 + pause));
        assert_eq!(pacing.take_due(t0 + pause), vec![web.clone()]);
        let d = decide(&s, &pacing, &web, t0 + pause, &clock(100), None);
        assert_eq!(job(&d).status.unresolved_refs, vec![]);
        // A written entity is written again as soon as it changes: no settle time.
        pacing.succeeded(&web, t0 + pause);
        assert_eq!(pacing.not_before(&web, t0 + pause), None);
    }

    #[test]
    fn failures_back_off_per_entity_and_never_hold_up_another() {
        let mut s = catalog();
        let mut pacing = Pacing::default();
        let t0 = Instant::now();
        let web = r(Kind::Component, "web");
        let team = r(Kind::Group, "team");
        assert_eq!(
            pacing.failed(&web, t0, Failure::Transient),
            Duration::from_millis(200)
        );
        assert_eq!(
            pacing.failed(&web, t0, Failure::Transient),
            Duration::from_millis(400)
        );
        for _ in 0..20 {
            pacing.failed(&web, t0, Failure::Transient);
        }
        assert_eq!(pacing.failed(&web, t0, Failure::Transient), RETRY_MAX);
        assert_eq!(
            pacing.failed(&team, t0, Failure::Permanent),
            Duration::from_millis(200)
        );
        let mut other = Pacing::default();
        for _ in 0..20 {
            other.failed(&team, t0, Failure::Permanent);
        }
        assert_eq!(
            other.failed(&team, t0, Failure::Permanent),
            RETRY_MAX_PERMANENT
        );
        // web waits; a third entity is planned at once.
        apply(
            &mut s,
            entity(Kind::System, "shop", &[("owner", "team")]),
            None,
        );
        let planned = plan(&mut s, &pacing, t0);
        let shop = planned
            .iter()
            .find(|(me, _)| *me == r(Kind::System, "shop"))
            .unwrap();
        assert!(matches!(shop.1, Decision::Write(_)));
        assert!(matches!(
            decide(&s, &pacing, &web, t0, &clock(100), None),
            Decision::Wait(_)
        ));
        // A success clears the backoff.
        pacing.succeeded(&web, t0 + RETRY_MAX);
        assert_eq!(pacing.not_before(&web, t0 + RETRY_MAX), None);
    }

    #[test]
    fn a_burst_holds_writes_until_a_pause_or_the_hold_limit() {
        let mut b = Burst::default();
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        // Changes 50 ms apart (20 a second, as a client that waits for each status makes them)
        // are written at once.
        let mut n = 0;
        for t in (0..5_000).step_by(50) {
            n += 1;
            assert_eq!(b.hold(ms(t), n, Some(ms(t))), None, "held at {t} ms");
        }
        // A change every 5 ms: a stream. Writes wait for a pause after the latest change.
        let mut t = 5_000;
        let mut first_hold = None;
        while t < 7_000 {
            t += 5;
            n += 1;
            if let Some(until) = b.hold(ms(t), n, Some(ms(t))) {
                assert_eq!(until, ms(t + 1_000));
                first_hold.get_or_insert(t);
            }
        }
        assert!(first_hold.is_some_and(|h| h < 6_000), "{first_hold:?}");
        // The changes stop: after the pause, writes go.
        assert!(b.hold(ms(t + 500), n, Some(ms(t))).is_some());
        assert_eq!(b.hold(ms(t + 1_000), n, Some(ms(t))), None);
        assert!(!b.streaming());
    }

    #[test]
    fn while_a_stream_goes_on_statuses_naming_missing_entities_wait_for_its_end() {
        let mut s = catalog();
        let now = Instant::now();
        let web = r(Kind::Component, "web");
        let team = r(Kind::Group, "team");
        let stream = Some(now - Duration::from_secs(40));
        // web's System has not arrived yet; team resolves.
        assert_eq!(
            decide(&s, &Pacing::default(), &web, now, &clock(1), stream),
            Decision::Defer
        );
        assert!(matches!(
            decide(&s, &Pacing::default(), &team, now, &clock(1), stream),
            Decision::Write(_)
        ));
        // Once the System is there, web is written, stream or not.
        apply(
            &mut s,
            entity(Kind::System, "shop", &[("owner", "team")]),
            None,
        );
        s.index.take_dirty();
        assert!(matches!(
            decide(&s, &Pacing::default(), &web, now, &clock(1), stream),
            Decision::Write(_)
        ));
        // An entity already written during this stream waits for its end; one written before
        // it began does not.
        let mut during = Pacing::default();
        during.succeeded(&web, now - Duration::from_secs(10));
        assert_eq!(
            decide(&s, &during, &web, now, &clock(1), stream),
            Decision::Defer
        );
        let mut before = Pacing::default();
        before.succeeded(&web, now - Duration::from_secs(50));
        assert!(matches!(
            decide(&s, &before, &web, now, &clock(1), stream),
            Decision::Write(_)
        ));
    }

    #[test]
    fn a_hold_that_reaches_its_limit_mid_stream_says_so() {
        let mut b = Burst::default();
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        // A change every 5 ms: held from about half a second in, released at the limit.
        let (mut n, mut t) = (0, 0);
        let mut held = false;
        loop {
            t += 5;
            n += 1;
            match b.hold(ms(t), n, Some(ms(t))) {
                Some(_) => held = true,
                None if held => break,
                None => assert!(t < 1_500, "not held at {t} ms"),
            }
            assert!(!b.streaming());
        }
        assert!((30_000..=31_600).contains(&t), "released at {t} ms");
        assert!(b.streaming(), "released at the limit, changes still coming");
        // The stream pauses: released because it is quiet, not streaming any more.
        assert!(b.hold(ms(t + 5), n + 1, Some(ms(t + 5))).is_some());
        assert_eq!(b.hold(ms(t + 1_005), n + 1, Some(ms(t + 5))), None);
        assert!(!b.streaming());
    }

    #[test]
    fn gaining_leadership_re_evaluates_everything_and_then_only_what_changes() {
        let mut s = catalog();
        let mut leading = Leading::default();
        let now = Instant::now();
        // A follower plans nothing of its own accord...
        assert!(!leading.gained(false));
        for (me, d) in plan(&mut s, &Pacing::default(), now) {
            s.written(&me, Some(job(&d).status.clone()), Some("2".into()));
        }
        assert!(s.index.take_dirty().is_empty());
        // ...gaining the lead marks every entity once...
        if leading.gained(true) {
            s.index.mark_all();
        }
        assert_eq!(s.index.take_dirty().len(), 2);
        // ...keeping it does not...
        assert!(!leading.gained(true));
        // ...and losing then regaining it does again.
        assert!(!leading.gained(false));
        assert!(leading.gained(true));
    }

    #[test]
    fn deleted_entities_are_gone_and_forgotten() {
        let mut s = catalog();
        let mut pacing = Pacing::default();
        let web = r(Kind::Component, "web");
        pacing.failed(&web, Instant::now(), Failure::Transient);
        s.delete(&web);
        assert_eq!(
            decide(&s, &pacing, &web, Instant::now(), &clock(1), None),
            Decision::Gone
        );
        pacing.retain(&s);
        assert_eq!(pacing.waiting(), 0);
    }
}
