//! The catalog API's read model: the operator's watches feed every catalog object in, and a
//! snapshot of the exported Backstage entities (the mapping of `playbill export`, with
//! relations) is kept ready for requests, each entity as its JSON text plus its search rows.
//! Requests read the current snapshot without locks held across the answer; changes build the
//! next one, at most a few times a second, off the request path.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::sync::Notify;

use super::builder::Builder;
use super::search::{self, Interner, Rows};
use crate::backstage::export::{self, Head};
use crate::catalog::CatalogObject;
use crate::consent::Consents;
use crate::model::{EntityRef, Kind};

/// The `spec` lists that Backstage's catalog sorts when it ingests an entity (its
/// BuiltinKindsEntityProcessor), whatever source the entity came from: the API sorts them too,
/// so its entities equal Backstage's. `playbill export` keeps the manifests' order.
pub const SORTED_BY_BACKSTAGE: [&str; 7] = [
    "providesApis",
    "consumesApis",
    "dependsOn",
    "dependencyOf",
    "memberOf",
    "children",
    "members",
];

fn sort_as_backstage(entity: &mut serde_json::Value) {
    for field in SORTED_BY_BACKSTAGE {
        if let Some(serde_json::Value::Array(items)) = entity["spec"].get_mut(field)
            && items.iter().all(serde_json::Value::is_string)
        {
            // JavaScript's default sort: by UTF-16 code units.
            items.sort_by(|a, b| {
                let (a, b) = (a.as_str().unwrap_or(""), b.as_str().unwrap_or(""));
                a.encode_utf16().cmp(b.encode_utf16())
            });
        }
    }
}

/// One exported entity. Cheap to clone (its parts are shared), so that a snapshot holds its
/// entries side by side, which a scan over all of them reads fastest, and the next snapshot
/// takes over those that did not change.
#[derive(Clone, Debug)]
pub struct Entry {
    pub kind: Kind,
    /// The Kubernetes namespace it lives in: what visibility is decided on. Shared by every
    /// entry of the namespace.
    pub kube_namespace: Arc<str>,
    /// `kind:namespace/name`, lowercased, as Backstage keys its entities.
    pub entity_ref: Arc<str>,
    pub uid: Option<Arc<str>>,
    /// The entity as the API serves it.
    pub json: Arc<str>,
    pub rows: Arc<Rows>,
}

impl Entry {
    /// The entry of one exported entity.
    pub fn of(entity: export::BackstageEntity, interner: &mut Interner) -> Option<Entry> {
        let mut value = serde_json::to_value(&entity).ok()?;
        sort_as_backstage(&mut value);
        let kind = Kind::parse(&entity.kind)?;
        Some(Entry {
            kind,
            entity_ref: format!(
                "{}:{}/{}",
                kind.lower(),
                entity.metadata.namespace.to_lowercase(),
                entity.metadata.name.to_lowercase()
            )
            .into(),
            kube_namespace: interner.get(&entity.kube_namespace),
            uid: entity.metadata.uid.map(Into::into),
            rows: Arc::new(search::rows(&value, interner)),
            json: value.to_string().into(),
        })
    }

    /// The search values of `key` (lowercased key), lowercased, non-null.
    pub fn values<'a>(
        &'a self,
        key: &'a str,
    ) -> impl Iterator<Item = std::borrow::Cow<'a, str>> + 'a {
        self.rows
            .iter()
            .filter(move |r| r.key == key)
            .filter_map(|r| r.lower())
    }
}

/// The exported catalog at one moment, ordered by entity ref.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub entries: Vec<Entry>,
    by_uid: HashMap<Arc<str>, usize>,
    /// Every kind's watch had listed once when it was built.
    pub complete: bool,
}

impl Snapshot {
    /// A snapshot of `entries`, in entity ref order without repeats.
    pub fn new(entries: Vec<Entry>, complete: bool) -> Snapshot {
        let by_uid = entries
            .iter()
            .enumerate()
            .filter_map(|(i, e)| Some((e.uid.clone()?, i)))
            .collect();
        Snapshot {
            entries,
            by_uid,
            complete,
        }
    }

    /// The snapshot of `objects` in one go: `playbill export`'s entities, with relations, uid
    /// and etag. The store builds the same incrementally ([`Builder`]).
    pub fn build(objects: &[CatalogObject], consents: &Consents, complete: bool) -> Snapshot {
        let options = export::Options {
            relations: true,
            server_fields: true,
        };
        let mut interner = Interner::default();
        let mut entries: Vec<Entry> = export::export(objects, options, consents)
            .entities
            .into_iter()
            .filter_map(|e| Entry::of(e, &mut interner))
            .collect();
        // Stable: of two objects restored to the same ref, the first in catalog order stays.
        entries.sort_by(|a, b| a.entity_ref.cmp(&b.entity_ref));
        entries.dedup_by(|b, a| a.entity_ref == b.entity_ref);
        Snapshot::new(entries, complete)
    }

    /// The entity with this (lowercased) ref.
    pub fn by_ref(&self, entity_ref: &str) -> Option<&Entry> {
        self.entries
            .binary_search_by(|e| (*e.entity_ref).cmp(entity_ref))
            .ok()
            .map(|i| &self.entries[i])
    }

    pub fn by_uid(&self, uid: &str) -> Option<&Entry> {
        self.by_uid.get(uid).map(|&i| &self.entries[i])
    }
}

/// Hands the pages a build freed back to the system. glibc keeps freed heap memory for reuse,
/// so without this the transient maps of a build over the whole catalog (identities,
/// relations) stay in the operator's RSS for good.
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes no pointers; it only returns free pages of glibc's own heap.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// One catalog object as the store keeps it between snapshots: the JSON text of what the export
/// reads, a fraction of the size of the parsed object, and its [`Head`] (the object without
/// its spec, which every build reads).
#[derive(Debug)]
pub struct StoredObject {
    /// Without `metadata.resourceVersion`, so a status write (which changes only that) is no
    /// change here.
    json: Box<str>,
    resource_version: Option<Box<str>>,
    pub(super) head: Head,
    /// The store's change count when it was stored: an entry built from it is current while
    /// this stays.
    pub(super) stamp: u64,
}

impl StoredObject {
    /// Keeps `value` (an API object) without its status and managedFields; `None` for anything
    /// that is not a catalog object.
    pub fn new(mut value: serde_json::Value) -> Option<StoredObject> {
        if let Some(o) = value.as_object_mut() {
            o.remove("status");
        }
        let mut resource_version = None;
        if let Some(m) = value.get_mut("metadata").and_then(|m| m.as_object_mut()) {
            m.remove("managedFields");
            resource_version = m
                .remove("resourceVersion")
                .and_then(|v| v.as_str().map(Into::into));
        }
        let json = value.to_string().into();
        let head = Head::of(&CatalogObject::from_value(value, "")?);
        Some(StoredObject {
            json,
            resource_version,
            head,
            stamp: 0,
        })
    }

    /// The whole object again.
    pub(super) fn object(&self) -> Option<CatalogObject> {
        let mut object = CatalogObject::from_value(serde_json::from_str(&self.json).ok()?, "")?;
        object.resource_version = self.resource_version.as_deref().map(Into::into);
        Some(object)
    }
}

#[derive(Default)]
struct Objects {
    objects: HashMap<EntityRef, Arc<StoredObject>>,
    relisting: HashMap<Kind, HashSet<EntityRef>>,
    synced: HashSet<Kind>,
    /// Bumped on every change.
    generation: u64,
}

/// The objects the watches deliver, and the snapshot the API answers from.
#[derive(Default)]
pub struct Store {
    objects: Mutex<Objects>,
    snapshot: RwLock<Arc<Snapshot>>,
    builder: Mutex<Builder>,
    changed: Notify,
}

impl Store {
    pub fn new() -> Arc<Store> {
        Arc::new(Store::default())
    }

    /// The snapshot requests answer from.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.read().expect("snapshot lock").clone()
    }

    /// The stored objects, in catalog order.
    fn stored(&self) -> Vec<Arc<StoredObject>> {
        let mut stored: Vec<Arc<StoredObject>> = self
            .objects
            .lock()
            .expect("store lock")
            .objects
            .values()
            .cloned()
            .collect();
        stored.sort_by(|a, b| {
            let (a, b) = (&a.head, &b.head);
            (a.kind.name(), &a.namespace, &a.name).cmp(&(b.kind.name(), &b.namespace, &b.name))
        });
        stored
    }

    /// Every object the watches hold, in catalog order.
    pub fn objects(&self) -> Vec<CatalogObject> {
        self.stored().iter().filter_map(|s| s.object()).collect()
    }

    /// Puts `snapshot` in place (for an answer built elsewhere, and tests).
    pub fn replace(&self, snapshot: Snapshot) {
        *self.snapshot.write().expect("snapshot lock") = Arc::new(snapshot);
    }

    fn touch(&self, o: &mut Objects) {
        o.generation += 1;
        self.changed.notify_one();
    }

    pub fn begin_relist(&self, kind: Kind) {
        let mut o = self.objects.lock().expect("store lock");
        o.relisting.insert(kind, HashSet::new());
    }

    /// An object added or changed; `None` for one whose spec cannot be read (it is not
    /// exported).
    pub fn apply(&self, kind: Kind, me: EntityRef, object: Option<StoredObject>) {
        let mut o = self.objects.lock().expect("store lock");
        if let Some(seen) = o.relisting.get_mut(&kind) {
            seen.insert(me.clone());
        }
        match object {
            // Only its status changed (the operator's own write): the entity, and its etag,
            // stay as they were.
            Some(obj) if o.objects.get(&me).is_some_and(|old| old.json == obj.json) => return,
            Some(mut obj) => {
                obj.stamp = o.generation + 1;
                o.objects.insert(me, Arc::new(obj));
            }
            None => {
                if o.objects.remove(&me).is_none() {
                    return;
                }
            }
        }
        self.touch(&mut o);
    }

    pub fn delete(&self, me: &EntityRef) {
        let mut o = self.objects.lock().expect("store lock");
        if o.objects.remove(me).is_some() {
            self.touch(&mut o);
        }
    }

    /// Ends a re-list: objects of `kind` it did not return are gone.
    pub fn end_relist(&self, kind: Kind) {
        let mut o = self.objects.lock().expect("store lock");
        let seen = o.relisting.remove(&kind).unwrap_or_default();
        o.objects
            .retain(|r, obj| obj.head.kind != kind || seen.contains(r));
        o.synced.insert(kind);
        self.touch(&mut o);
    }

    /// Whether a snapshot built at `last` is out of date.
    fn stale(&self, consents_version: u64, last: (u64, u64)) -> bool {
        let o = self.objects.lock().expect("store lock");
        (o.generation, consents_version) != last
    }

    /// Builds a new snapshot when anything changed: the objects, or (in consent mode) the
    /// grants, which `consents_version` counts. Returns how many entries it built anew, or
    /// `None` when nothing changed.
    pub fn refresh(
        &self,
        consents: &Consents,
        consents_version: u64,
        last: &mut (u64, u64),
    ) -> Option<usize> {
        let (complete, generation) = {
            let o = self.objects.lock().expect("store lock");
            if (o.generation, consents_version) == *last {
                return None;
            }
            (Kind::ALL.iter().all(|k| o.synced.contains(k)), o.generation)
        };
        // Objects that change from here on bump the generation past this one and so build
        // the next snapshot.
        let stored = self.stored();
        let started = std::time::Instant::now();
        let (snapshot, fresh) = self
            .builder
            .lock()
            .expect("builder lock")
            .build(&stored, consents, complete);
        drop(stored);
        tracing::debug!(
            entities = snapshot.entries.len(),
            rebuilt = fresh,
            ms = started.elapsed().as_millis() as u64,
            "catalog API: snapshot built"
        );
        *self.snapshot.write().expect("snapshot lock") = snapshot;
        *last = (generation, consents_version);
        release_freed_memory();
        Some(fresh)
    }

    /// Keeps the snapshot current for as long as the process runs: after a change, waits a
    /// moment for more to arrive, then builds once. Under a stream of changes the time between
    /// two builds is at least as long as the last build took, so that building takes at most
    /// half a CPU (a build reads the whole catalog: about 0.6 s at 50 000 entities); a change
    /// after a quiet spell waits only the moment. In consent mode the
    /// grants are polled from the operator's state as well (a grant changes relations, not
    /// objects).
    /// `health` learns when the snapshot first holds every kind.
    pub async fn keep_current(
        self: Arc<Store>,
        state: Arc<Mutex<crate::controller::State>>,
        health: Arc<crate::controller::Health>,
    ) {
        const SETTLE: Duration = Duration::from_millis(50);
        const CONSENT_POLL: Duration = Duration::from_millis(200);
        let mut last = (u64::MAX, u64::MAX);
        // How long the last build took, and when it ended.
        let mut took = Duration::ZERO;
        let mut ended = tokio::time::Instant::now();
        loop {
            let _ = tokio::time::timeout(CONSENT_POLL, self.changed.notified()).await;
            let version = {
                let s = state.lock().expect("state lock");
                match s.index.consents().mode() {
                    crate::consent::CrossNamespaceRefs::Allow => 0,
                    // Any state change may be a grant's.
                    crate::consent::CrossNamespaceRefs::Consent => s.changes,
                }
            };
            if !self.stale(version, last) {
                continue;
            }
            tokio::time::sleep(SETTLE.max(took.saturating_sub(ended.elapsed()))).await;
            let consents = state.lock().expect("state lock").index.consents().clone();
            let store = self.clone();
            let started = tokio::time::Instant::now();
            let built = tokio::task::spawn_blocking(move || {
                let mut l = last;
                store.refresh(&consents, version, &mut l);
                l
            })
            .await;
            took = started.elapsed();
            ended = tokio::time::Instant::now();
            health.set_catalog_complete(self.snapshot().complete);
            if let Ok(l) = built {
                last = l;
            }
        }
    }
}
