//! What the operator knows: the relation index, and for every object the status last observed
//! on the API server. Fed by the watches, drained by the status writer.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use kube::api::DynamicObject;

use crate::api::EntityStatus;
use crate::index::RelationIndex;
use crate::model::{EntityRef, Kind};

/// One object as last seen on the API server.
#[derive(Clone, Debug)]
pub struct Observed {
    pub kind: Kind,
    pub namespace: String,
    pub name: String,
    pub uid: Option<String>,
    pub status: Option<EntityStatus>,
    /// The resourceVersion as a number, to drop events older than what a write already returned.
    pub resource_version: Option<u64>,
}

#[derive(Default)]
pub struct State {
    pub index: RelationIndex,
    pub objects: HashMap<EntityRef, Observed>,
    /// Kinds whose initial list has completed.
    pub synced: HashSet<Kind>,
    /// Objects seen so far in a re-list, per kind; what is not seen by its end was deleted.
    relisting: HashMap<Kind, HashSet<EntityRef>>,
    /// When the oldest unwritten change was seen.
    pub pending_since: Option<Instant>,
}

/// The status an object carries; one that does not fit the schema counts as none (and is
/// overwritten).
fn observed_status(obj: &DynamicObject) -> Option<EntityStatus> {
    use serde::Deserialize;
    EntityStatus::deserialize(obj.data.get("status")?).ok()
}

/// The resourceVersion as a number, where it is one (it is on etcd-backed API servers).
fn resource_version(obj: &DynamicObject) -> Option<u64> {
    obj.metadata.resource_version.as_deref()?.parse().ok()
}

/// What the watch decoded from one object.
pub enum Decoded {
    Entity(crate::model::Entity),
    Invalid(String),
}

impl State {
    pub fn new(index: RelationIndex) -> State {
        State {
            index,
            ..State::default()
        }
    }

    pub fn all_synced(&self) -> bool {
        Kind::ALL.iter().all(|k| self.synced.contains(k))
    }

    pub fn begin_relist(&mut self, kind: Kind) {
        self.relisting.insert(kind, HashSet::new());
    }

    /// Ends a re-list: objects of `kind` that it did not return are gone.
    pub fn end_relist(&mut self, kind: Kind) {
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
    }

    /// Records an added or modified object.
    pub fn apply(&mut self, kind: Kind, obj: &DynamicObject, decoded: Decoded) {
        let namespace = obj.metadata.namespace.clone().unwrap_or_default();
        let name = obj.metadata.name.clone().unwrap_or_default();
        let me = EntityRef::of(kind, &namespace, &name);
        if let Some(seen) = self.relisting.get_mut(&kind) {
            seen.insert(me.clone());
        }
        let resource_version = resource_version(obj);
        if let Some(prev) = self.objects.get(&me)
            && let (Some(old), Some(new)) = (prev.resource_version, resource_version)
            && new < old
            && prev.uid == obj.metadata.uid
        {
            // Older than what a status write already returned; nothing new in it.
            return;
        }
        let status = observed_status(obj);
        let generation = obj.metadata.generation;
        let status_changed = self.objects.get(&me).is_none_or(|p| p.status != status);
        self.objects.insert(
            me.clone(),
            Observed {
                kind,
                namespace,
                name,
                uid: obj.metadata.uid.clone(),
                status,
                resource_version,
            },
        );
        match decoded {
            Decoded::Entity(e) => self.index.upsert(&e, generation),
            Decoded::Invalid(msg) => self.index.upsert_invalid(me.clone(), kind, generation, msg),
        }
        if status_changed {
            // Someone else's edit of status, or our own write coming back: either way compare.
            self.index.mark(&me);
        }
        self.pending_since.get_or_insert_with(Instant::now);
    }

    pub fn delete(&mut self, me: &EntityRef) {
        self.objects.remove(me);
        self.index.remove(me);
        self.pending_since.get_or_insert_with(Instant::now);
    }

    /// Records the object a status write returned.
    pub fn written(&mut self, me: &EntityRef, obj: &DynamicObject) {
        if let Some(o) = self.objects.get_mut(me) {
            o.status = observed_status(obj);
            o.resource_version = resource_version(obj);
        }
    }
}
