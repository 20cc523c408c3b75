//! Builds the catalog API's snapshots from the objects that changed, not from the whole
//! catalog: the same answer as exporting everything again ([`Snapshot::build`], which the tests
//! compare it with), at the cost of what a change touches.
//!
//! An entity's entry is its object exported with its references restored to Backstage names and
//! its relations. So after a change the builder redoes, and only for the objects concerned:
//!
//! - the restored references of the changed objects, and of the objects that refer to one whose
//!   Backstage identity appeared, went or moved (the restoring reads the targets' identities);
//! - the relation rows those objects give, added to and taken from a count per entity of the
//!   rows that belong to it (its forward rows and the reverse rows of references to it);
//! - the entries of the changed objects, of those whose references were restored anew, and of
//!   every entity whose set of rows changed.
//!
//! Under cross-namespace consent a relation also depends on grants and on namespaces across
//! the catalog, so there every build starts afresh (as the one-shot export does).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use super::search::Interner;
use super::store::{Entry, Snapshot, StoredObject};
use crate::backstage::export::{self, Exporter};
use crate::consent::{Consents, CrossNamespaceRefs};
use crate::model::{Entity, EntityRef, Relation};

/// Where an entry sorts: by entity ref, then (for two objects restored to the same ref, of
/// which the snapshot keeps the first) in catalog order.
type EntryKey = (Arc<str>, &'static str, String, String);

/// One object as the builder knows it.
struct Tracked {
    stored: Arc<StoredObject>,
    /// Its restored entity; `None` when its spec does not fit the schema (it is not exported).
    restored: Option<Entity>,
    /// The Kubernetes refs its references point at: whose identities its restoring reads.
    inputs: Vec<EntityRef>,
    /// Its entry's key in `entries`, once built.
    key: Option<EntryKey>,
}

/// Rows that came (+1) or went (-1) during one build, netted.
type Flips = HashMap<(EntityRef, Relation), i32>;

/// A change for the builder: the object with this ref is now `Some(object)`, or gone.
pub type Change = (EntityRef, Option<Arc<StoredObject>>);

pub struct Builder {
    exporter: Exporter,
    objects: HashMap<EntityRef, Tracked>,
    /// Kubernetes ref → the objects whose references point at it.
    holders: HashMap<EntityRef, HashSet<EntityRef>>,
    /// Backstage ref → every relation row that belongs to it, with how many references give it.
    rows: HashMap<EntityRef, BTreeMap<Relation, u32>>,
    /// Backstage ref → the objects restored to it (two, when imports collide).
    named: HashMap<EntityRef, BTreeSet<EntityRef>>,
    entries: BTreeMap<EntryKey, Entry>,
    interner: Interner,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            exporter: Exporter::new([], OPTIONS),
            objects: HashMap::new(),
            holders: HashMap::new(),
            rows: HashMap::new(),
            named: HashMap::new(),
            entries: BTreeMap::new(),
            interner: Interner::default(),
        }
    }
}

/// The API's entities carry relations, uid and etag.
const OPTIONS: export::Options = export::Options {
    relations: true,
    server_fields: true,
};

impl Builder {
    /// Whether the next build must be given every object, not only the changed ones: always
    /// under consent, where it starts afresh.
    pub fn wants_everything(consents: &Consents) -> bool {
        consents.mode() == CrossNamespaceRefs::Consent
    }

    /// Applies `changes` and returns the snapshot after them, and how many entries it built
    /// anew. Under consent, `changes` must hold every object (see [`Builder::wants_everything`]).
    pub fn build(
        &mut self,
        changes: Vec<Change>,
        consents: &Consents,
        complete: bool,
    ) -> (Snapshot, usize) {
        if Self::wants_everything(consents) {
            *self = Builder::default();
        }
        let mut restore = HashSet::new();
        let mut rebuild = HashSet::new();
        let mut flips = Flips::new();
        let mut moved = Vec::new();
        for (me, object) in changes {
            let before = self.exporter.identity_of(&me).cloned();
            if let Some(old) = self.objects.remove(&me) {
                self.exporter.remove(&old.stored.light);
                self.forget(&me, old, consents, &mut flips);
            }
            if let Some(stored) = object {
                self.exporter.add(&stored.light);
                let inputs = Exporter::restore_inputs(&stored.light);
                for t in &inputs {
                    self.holders
                        .entry(t.clone())
                        .or_default()
                        .insert(me.clone());
                }
                self.objects.insert(
                    me.clone(),
                    Tracked {
                        stored,
                        restored: None,
                        inputs,
                        key: None,
                    },
                );
                restore.insert(me.clone());
                rebuild.insert(me.clone());
            }
            if self.exporter.identity_of(&me) != before.as_ref() {
                moved.push(me);
            }
        }
        for t in &moved {
            if let Some(holders) = self.holders.get(t) {
                restore.extend(holders.iter().cloned());
            }
        }
        for me in restore {
            self.restore(&me, consents, &mut rebuild, &mut flips);
        }
        // The entities whose set of rows is not what it was: a row that came and went again
        // (a changed object giving the same rows) changes nothing.
        let touched: HashSet<&EntityRef> = flips
            .iter()
            .filter(|(_, net)| **net != 0)
            .map(|((source, _), _)| source)
            .collect();
        for source in touched {
            if let Some(objects) = self.named.get(source) {
                rebuild.extend(objects.iter().cloned());
            }
        }
        let mut fresh = 0;
        for me in &rebuild {
            if self.rebuild(me) {
                fresh += 1;
            }
        }
        self.interner.prune();
        (self.snapshot(complete), fresh)
    }

    /// Takes an object out: its entry, its rows, its place among the holders.
    fn forget(&mut self, me: &EntityRef, old: Tracked, consents: &Consents, flips: &mut Flips) {
        if let Some(key) = &old.key {
            self.entries.remove(key);
        }
        if let Some(restored) = &old.restored {
            self.count_rows(restored, -1, consents, flips);
            self.unname(restored, me);
        }
        for t in &old.inputs {
            if let Some(holders) = self.holders.get_mut(t) {
                holders.remove(me);
                if holders.is_empty() {
                    self.holders.remove(t);
                }
            }
        }
    }

    /// Restores an object's references again; when they differ (or the object is new), its
    /// rows are counted anew and its entry rebuilt.
    fn restore(
        &mut self,
        me: &EntityRef,
        consents: &Consents,
        rebuild: &mut HashSet<EntityRef>,
        flips: &mut Flips,
    ) {
        let Some(tracked) = self.objects.get(me) else {
            return;
        };
        let restored = self.exporter.restored(&tracked.stored.light).ok();
        if restored == tracked.restored && !rebuild.contains(me) {
            return;
        }
        let old = self
            .objects
            .get_mut(me)
            .and_then(|t| std::mem::replace(&mut t.restored, restored.clone()));
        if let Some(old) = &old {
            self.count_rows(old, -1, consents, flips);
            self.unname(old, me);
        }
        if let Some(new) = &restored {
            self.count_rows(new, 1, consents, flips);
            self.named
                .entry(new.entity_ref())
                .or_default()
                .insert(me.clone());
        }
        rebuild.insert(me.clone());
    }

    fn unname(&mut self, restored: &Entity, me: &EntityRef) {
        let name = restored.entity_ref();
        if let Some(objects) = self.named.get_mut(&name) {
            objects.remove(me);
            if objects.is_empty() {
                self.named.remove(&name);
            }
        }
    }

    /// Adds (`by` 1) or takes away (`by` -1) the rows `restored` gives, noting in `flips` each
    /// row that comes or goes. Rows are taken away only in allow mode (consent starts afresh),
    /// where they do not depend on `consents`.
    fn count_rows(&mut self, restored: &Entity, by: i32, consents: &Consents, flips: &mut Flips) {
        for (source, relation) in self.exporter.rows(restored, consents) {
            let counts = self.rows.entry(source.clone()).or_default();
            let flipped = if by > 0 {
                let n = counts.entry(relation.clone()).or_default();
                *n += 1;
                *n == 1
            } else {
                match counts.get_mut(&relation) {
                    Some(n) => {
                        *n -= 1;
                        if *n == 0 {
                            counts.remove(&relation);
                            true
                        } else {
                            false
                        }
                    }
                    None => false,
                }
            };
            if counts.is_empty() {
                self.rows.remove(&source);
            }
            if flipped {
                *flips.entry((source, relation)).or_default() += by;
            }
        }
    }

    /// Builds an object's entry again. Returns whether it has one.
    fn rebuild(&mut self, me: &EntityRef) -> bool {
        let Some(tracked) = self.objects.get_mut(me) else {
            return false;
        };
        if let Some(key) = tracked.key.take() {
            self.entries.remove(&key);
        }
        let Some(restored) = &tracked.restored else {
            return false;
        };
        let relations = export::backstage_relations(
            self.rows
                .get(&restored.entity_ref())
                .into_iter()
                .flat_map(|counts| counts.keys().cloned()),
        );
        let Some(object) = tracked.stored.object() else {
            return false;
        };
        let entity = self.exporter.entity(&object, restored, Some(relations));
        let Some(entry) = Entry::of(entity, &mut self.interner) else {
            return false;
        };
        let light = &tracked.stored.light;
        let key = (
            entry.entity_ref.clone(),
            light.kind.name(),
            light.namespace.clone(),
            light.name.clone(),
        );
        tracked.key = Some(key.clone());
        self.entries.insert(key, entry);
        true
    }

    fn snapshot(&self, complete: bool) -> Snapshot {
        let mut entries: Vec<Entry> = Vec::with_capacity(self.entries.len());
        for entry in self.entries.values() {
            // Two objects restored to the same Backstage ref: keep the first, as a catalog
            // can hold only one.
            if entries
                .last()
                .is_some_and(|last| last.entity_ref == entry.entity_ref)
            {
                continue;
            }
            entries.push(entry.clone());
        }
        Snapshot::new(entries, complete)
    }
}
