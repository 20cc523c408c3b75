//! What the operator knows: the relation index, and for every object the status last observed
//! on the API server. Fed by the watches, drained by the status writer.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use crate::api::{EntityStatus, UnknownField};
use crate::consent::{CrossNamespaceRefs, Grant};
use crate::index::RelationIndex;
use crate::model::{Entity, EntityRef, Kind};

/// The metadata of a watched object that the operator uses.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObjectMeta {
    pub namespace: String,
    pub name: String,
    pub uid: Option<String>,
    /// Opaque: compared for equality only, never ordered.
    pub resource_version: Option<String>,
    pub generation: Option<i64>,
}

/// What the watch decoded from one object. Short-lived (moved once into the state), so the
/// size difference between the variants costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum Decoded {
    Entity {
        entity: Entity,
        status: Option<EntityStatus>,
        /// Keys in spec that the kind has no field for: warnings its status lists.
        unknown_fields: Vec<UnknownField>,
    },
    /// The spec does not fit the schema; the status cannot be read either.
    Invalid(String),
}

/// One object as last seen on the API server.
#[derive(Clone, Debug)]
pub struct Observed {
    pub kind: Kind,
    pub namespace: String,
    pub name: String,
    pub uid: Option<String>,
    pub status: Option<EntityStatus>,
    /// The spec could not be read: its status is written with a merge patch, which the API
    /// server accepts for an object it cannot convert to its schema (server-side apply does not).
    pub invalid: bool,
    /// Keys in spec that the kind has no field for, as the status should list them.
    pub unknown_fields: Vec<UnknownField>,
    /// The resourceVersion our last status write returned (and when), until the watch delivers
    /// it. Events for the object before it are older than what the write returned, so their
    /// status is not taken (the watch delivers one object's events in order).
    awaiting: Option<(String, Instant)>,
    /// The resourceVersions the watch delivered last, newest at the back.
    delivered: VecDeque<String>,
}

/// How many delivered resourceVersions an object remembers: enough for the events that can
/// arrive between a write's response and its recording.
const DELIVERED_KEPT: usize = 8;
/// A write's echo arrives within milliseconds; one not seen after this long is not waited for.
const AWAIT_ECHO_AT_MOST: Duration = Duration::from_secs(10);

#[derive(Default)]
pub struct State {
    pub index: RelationIndex,
    pub objects: HashMap<EntityRef, Observed>,
    /// Kinds whose initial list has completed at least once: nothing is written before all have.
    pub synced: HashSet<Kind>,
    /// Objects seen so far in a re-list, per kind; what is not seen by its end was deleted.
    relisting: HashMap<Kind, HashSet<EntityRef>>,
    /// When the oldest unwritten change was seen.
    pub pending_since: Option<Instant>,
    /// When the latest change was seen, and how many were seen in all: the writer reads a stream
    /// from them.
    pub last_change: Option<Instant>,
    pub changes: u64,
    /// In consent mode: whether the grants and the namespaces have been listed once, and what a
    /// re-list of each has returned so far.
    grants_synced: bool,
    namespaces_synced: bool,
    relisting_grants: Option<HashSet<(String, String)>>,
    relisting_namespaces: Option<HashSet<String>>,
}

impl State {
    pub fn new(index: RelationIndex) -> State {
        State {
            index,
            ..State::default()
        }
    }

    /// Every watch has listed once: the seven kinds, and in consent mode the grants and the
    /// namespaces (a status written before the grants are known would refuse what they permit).
    pub fn all_synced(&self) -> bool {
        Kind::ALL.iter().all(|k| self.synced.contains(k))
            && (self.index.consents().mode() == CrossNamespaceRefs::Allow
                || (self.grants_synced && self.namespaces_synced))
    }

    pub fn begin_grant_relist(&mut self) {
        self.relisting_grants = Some(HashSet::new());
    }

    /// Records a CatalogGrant added or changed.
    pub fn apply_grant(&mut self, namespace: &str, name: &str, grant: Grant) {
        if let Some(seen) = &mut self.relisting_grants {
            seen.insert((namespace.to_ascii_lowercase(), name.to_owned()));
        }
        if self.index.upsert_grant(namespace, name, grant) {
            self.changed();
        }
    }

    pub fn delete_grant(&mut self, namespace: &str, name: &str) {
        if self.index.remove_grant(namespace, name) {
            self.changed();
        }
    }

    /// Ends a re-list of the grants: those it did not return are gone.
    pub fn end_grant_relist(&mut self) {
        let seen = self.relisting_grants.take().unwrap_or_default();
        for (ns, name) in self.index.consents().grant_names() {
            if !seen.contains(&(ns.clone(), name.clone())) {
                self.delete_grant(&ns, &name);
            }
        }
        self.grants_synced = true;
    }

    pub fn begin_namespace_relist(&mut self) {
        self.relisting_namespaces = Some(HashSet::new());
    }

    /// Records a namespace's labels.
    pub fn apply_namespace(&mut self, name: &str, labels: BTreeMap<String, String>) {
        if let Some(seen) = &mut self.relisting_namespaces {
            seen.insert(name.to_ascii_lowercase());
        }
        if self.index.upsert_namespace(name, labels) {
            self.changed();
        }
    }

    /// A namespace is gone, and its grants with it.
    pub fn delete_namespace(&mut self, name: &str) {
        if self.index.remove_namespace(name) {
            self.changed();
        }
    }

    /// Ends a re-list of the namespaces: those it did not return are gone.
    pub fn end_namespace_relist(&mut self) {
        let seen = self.relisting_namespaces.take().unwrap_or_default();
        for ns in self.index.consents().namespaces() {
            if !seen.contains(&ns) {
                self.delete_namespace(&ns);
            }
        }
        self.namespaces_synced = true;
    }

    pub fn begin_relist(&mut self, kind: Kind) {
        self.relisting.insert(kind, HashSet::new());
    }

    /// Ends a re-list: objects of `kind` that it did not return are gone. Returns how many
    /// objects of `kind` there are.
    pub fn end_relist(&mut self, kind: Kind) -> usize {
        let seen = self.relisting.remove(&kind).unwrap_or_default();
        let gone: Vec<EntityRef> = self
            .objects
            .iter()
            .filter(|(r, o)| o.kind == kind && !seen.contains(*r))
            .map(|(r, _)| r.clone())
            .collect();
        for r in gone {
            self.delete(&r);
        }
        self.synced.insert(kind);
        seen.len()
    }

    fn changed(&mut self) {
        let now = Instant::now();
        self.pending_since.get_or_insert(now);
        self.last_change = Some(now);
        self.changes += 1;
    }

    /// Records an added or modified object.
    pub fn apply(&mut self, kind: Kind, meta: ObjectMeta, decoded: Decoded) {
        let me = EntityRef::of(kind, &meta.namespace, &meta.name);
        let listing = match self.relisting.get_mut(&kind) {
            Some(seen) => {
                seen.insert(me.clone());
                true
            }
            None => false,
        };
        let prev = self.objects.remove(&me);
        let recreated = prev
            .as_ref()
            .is_some_and(|p| p.uid.is_some() && meta.uid.is_some() && p.uid != meta.uid);
        let (mut awaiting, prev_status, mut delivered, prev_unknown) =
            match prev.filter(|_| !recreated) {
                Some(p) => (p.awaiting, p.status, p.delivered, p.unknown_fields),
                None => (None, None, VecDeque::new(), Vec::new()),
            };
        // A list shows the object as it is now; otherwise an event before our write's own is
        // older than what the write returned. A wait that outlived any plausible watch delay is
        // given up, so a lost echo cannot hide the object's status for good.
        let waiting_for = awaiting
            .as_ref()
            .filter(|(_, since)| !listing && since.elapsed() < AWAIT_ECHO_AT_MOST)
            .map(|(rv, _)| rv.clone());
        let older_than_our_write = waiting_for.is_some() && waiting_for != meta.resource_version;
        if !older_than_our_write {
            awaiting = None;
        }
        if let Some(rv) = &meta.resource_version {
            if delivered.len() == DELIVERED_KEPT {
                delivered.pop_front();
            }
            delivered.push_back(rv.clone());
        }
        let (status, invalid) = match &decoded {
            Decoded::Entity { status, .. } if !older_than_our_write => (status.clone(), false),
            Decoded::Entity { .. } => (prev_status.clone(), false),
            // Unreadable: keep what we last saw or wrote.
            Decoded::Invalid(_) => (prev_status.clone(), true),
        };
        let status_changed = prev_status != status;
        let unknown_fields = match &decoded {
            Decoded::Entity { unknown_fields, .. } => unknown_fields.clone(),
            Decoded::Invalid(_) => Vec::new(),
        };
        let unknown_changed = prev_unknown != unknown_fields;
        self.objects.insert(
            me.clone(),
            Observed {
                kind,
                namespace: meta.namespace,
                name: meta.name,
                uid: meta.uid,
                status,
                invalid,
                unknown_fields,
                awaiting,
                delivered,
            },
        );
        let spec_changed = match decoded {
            Decoded::Entity { entity, .. } => self.index.upsert(&entity, meta.generation),
            Decoded::Invalid(msg) => {
                self.index
                    .upsert_invalid(me.clone(), kind, meta.generation, msg)
            }
        };
        if status_changed || recreated || unknown_changed {
            // Someone else's edit of status, an object deleted and created again with the same
            // spec while the watch was away, or unknown keys that changed: either way compare.
            self.index.mark(&me);
        }
        // Only news counts towards a stream: a spec that changed, an object that is new. Not a
        // status (our own writes come back, sometimes before their response is recorded), not a
        // re-list replaying what is already known.
        if spec_changed || recreated {
            self.changed();
        }
    }

    pub fn delete(&mut self, me: &EntityRef) {
        self.objects.remove(me);
        self.index.remove(me);
        self.changed();
    }

    /// Records the status a write returned, and its resourceVersion. If the watch has already
    /// delivered that version (the echo came first, or the write changed nothing), there is
    /// nothing to wait for.
    pub fn written(
        &mut self,
        me: &EntityRef,
        status: Option<EntityStatus>,
        resource_version: Option<String>,
    ) {
        if let Some(o) = self.objects.get_mut(me) {
            o.status = status;
            o.awaiting = resource_version
                .filter(|rv| !o.delivered.contains(rv))
                .map(|rv| (rv, Instant::now()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::RawRef;

    fn meta(name: &str, rv: &str) -> ObjectMeta {
        ObjectMeta {
            namespace: "n".into(),
            name: name.into(),
            uid: Some(format!("uid-{name}")),
            resource_version: Some(rv.into()),
            generation: Some(1),
        }
    }

    fn component(name: &str, owner: &str, status: Option<EntityStatus>) -> Decoded {
        Decoded::Entity {
            entity: Entity {
                kind: Kind::Component,
                namespace: "n".into(),
                name: name.into(),
                refs: vec![RawRef {
                    field: "owner",
                    index: None,
                    value: owner.into(),
                }],
            },
            status,
            unknown_fields: Vec::new(),
        }
    }

    fn status(tag: &str) -> Option<EntityStatus> {
        Some(EntityStatus {
            entity_ref: Some(tag.into()),
            ..EntityStatus::default()
        })
    }

    fn c(name: &str) -> EntityRef {
        EntityRef::of(Kind::Component, "n", name)
    }

    #[test]
    fn a_relist_deletes_what_it_did_not_return() {
        let mut s = State::default();
        s.begin_relist(Kind::Component);
        s.apply(Kind::Component, meta("a", "1"), component("a", "g", None));
        s.apply(Kind::Component, meta("b", "2"), component("b", "g", None));
        assert_eq!(s.end_relist(Kind::Component), 2);
        assert!(s.synced.contains(&Kind::Component) && !s.all_synced());
        s.take_dirty_for_test();
        s.begin_relist(Kind::Component);
        s.apply(Kind::Component, meta("b", "3"), component("b", "g", None));
        s.end_relist(Kind::Component);
        assert!(!s.objects.contains_key(&c("a")));
        assert!(!s.index.contains(&c("a")));
        assert!(s.objects.contains_key(&c("b")));
    }

    #[test]
    fn events_older_than_our_own_write_do_not_roll_the_status_back() {
        let mut s = State::default();
        s.apply(Kind::Component, meta("a", "1"), component("a", "g", None));
        s.written(&c("a"), status("ours"), Some("5".into()));
        // A spec edit made before our write arrives afterwards, carrying the old status: the
        // spec is taken, the status is not.
        s.apply(Kind::Component, meta("a", "4"), component("a", "h", None));
        assert_eq!(s.objects[&c("a")].status, status("ours"));
        // Our write's own event clears the wait; from then on the watch is the truth again.
        s.apply(
            Kind::Component,
            meta("a", "5"),
            component("a", "h", status("ours")),
        );
        s.apply(
            Kind::Component,
            meta("a", "6"),
            component("a", "h", status("someone else")),
        );
        assert_eq!(s.objects[&c("a")].status, status("someone else"));
    }

    #[test]
    fn resource_versions_are_opaque() {
        // Not numbers, and not ordered: only equality with our write's version matters.
        let mut s = State::default();
        s.apply(Kind::Component, meta("a", "zz"), component("a", "g", None));
        s.written(&c("a"), status("ours"), Some("aa".into()));
        s.apply(
            Kind::Component,
            meta("a", "aa"),
            component("a", "g", status("ours")),
        );
        s.apply(
            Kind::Component,
            meta("a", "b"),
            component("a", "g", status("new")),
        );
        assert_eq!(s.objects[&c("a")].status, status("new"));
    }

    #[test]
    fn a_list_is_current_even_while_waiting_for_our_write() {
        let mut s = State::default();
        s.apply(Kind::Component, meta("a", "1"), component("a", "g", None));
        s.written(&c("a"), status("ours"), Some("5".into()));
        s.begin_relist(Kind::Component);
        s.apply(
            Kind::Component,
            meta("a", "9"),
            component("a", "g", status("later")),
        );
        s.end_relist(Kind::Component);
        assert_eq!(s.objects[&c("a")].status, status("later"));
    }

    #[test]
    fn an_unreadable_object_keeps_the_status_last_written() {
        let mut s = State::default();
        s.apply(
            Kind::Component,
            meta("a", "1"),
            Decoded::Invalid("bad".into()),
        );
        assert!(s.objects[&c("a")].invalid);
        s.written(&c("a"), status("invalid spec"), Some("2".into()));
        s.apply(
            Kind::Component,
            meta("a", "2"),
            Decoded::Invalid("bad".into()),
        );
        assert_eq!(s.objects[&c("a")].status, status("invalid spec"));
    }

    #[test]
    fn an_echo_seen_before_the_write_is_recorded_is_not_waited_for() {
        let mut s = State::default();
        s.apply(Kind::Component, meta("a", "1"), component("a", "g", None));
        // The watch delivers our write (version 5) and a later edit (6) before the writer gets
        // to record the response.
        s.apply(
            Kind::Component,
            meta("a", "5"),
            component("a", "g", status("ours")),
        );
        s.apply(
            Kind::Component,
            meta("a", "6"),
            component("a", "g", status("edited")),
        );
        s.written(&c("a"), status("ours"), Some("5".into()));
        // Nothing to wait for: the next event is taken as it is.
        s.apply(
            Kind::Component,
            meta("a", "7"),
            component("a", "g", status("again")),
        );
        assert_eq!(s.objects[&c("a")].status, status("again"));
    }

    #[test]
    fn a_relist_that_changes_nothing_is_not_news() {
        let mut s = State::default();
        s.apply(
            Kind::Component,
            meta("a", "1"),
            component("a", "g", status("x")),
        );
        let changes = s.changes;
        s.begin_relist(Kind::Component);
        s.apply(
            Kind::Component,
            meta("a", "1"),
            component("a", "g", status("x")),
        );
        s.end_relist(Kind::Component);
        assert_eq!(s.changes, changes);
    }

    #[test]
    fn an_object_recreated_with_the_same_spec_is_re_evaluated() {
        let mut s = State::default();
        s.apply(Kind::Component, meta("a", "1"), component("a", "g", None));
        s.written(&c("a"), status("ours"), Some("2".into()));
        s.apply(
            Kind::Component,
            meta("a", "2"),
            component("a", "g", status("ours")),
        );
        s.take_dirty_for_test();
        // Deleted and created again while the watch was away: same spec, no status yet.
        let mut again = meta("a", "9");
        again.uid = Some("another".into());
        s.apply(Kind::Component, again, component("a", "g", None));
        assert_eq!(s.take_dirty_for_test(), vec![c("a")]);
    }

    #[test]
    fn a_recreated_object_starts_afresh() {
        let mut s = State::default();
        s.apply(Kind::Component, meta("a", "1"), component("a", "g", None));
        s.written(&c("a"), status("ours"), Some("5".into()));
        let mut again = meta("a", "7");
        again.uid = Some("another".into());
        s.apply(Kind::Component, again, component("a", "g", None));
        assert_eq!(s.objects[&c("a")].status, None);
    }

    #[test]
    fn status_changes_and_deletions_mark_entities() {
        let mut s = State::default();
        s.apply(Kind::Component, meta("a", "1"), component("a", "g", None));
        s.take_dirty_for_test();
        s.apply(
            Kind::Component,
            meta("a", "2"),
            component("a", "g", status("x")),
        );
        assert_eq!(s.take_dirty_for_test(), vec![c("a")]);
        // Same spec, same status: nothing to re-evaluate.
        s.apply(
            Kind::Component,
            meta("a", "3"),
            component("a", "g", status("x")),
        );
        assert!(s.take_dirty_for_test().is_empty());
        // Our own write's echo is not a change.
        s.written(&c("a"), status("x"), Some("4".into()));
        let changes = s.changes;
        s.apply(
            Kind::Component,
            meta("a", "4"),
            component("a", "g", status("x")),
        );
        assert_eq!(s.changes, changes);
        s.delete(&c("a"));
        assert_eq!(s.changes, changes + 1);
        assert!(s.objects.is_empty());
    }

    impl State {
        fn take_dirty_for_test(&mut self) -> Vec<EntityRef> {
            self.index.take_dirty()
        }
    }
}
