//! What every status should be, from the pure core the operator itself runs: the catalog goes
//! into a `RelationIndex`, and each entity's desired status is rendered as the operator renders
//! it. Kept up to date one change at a time during the change trials.

use std::collections::{BTreeMap, HashMap};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use playbill::api::{EntityStatus, entity_from_value};
use playbill::index::{DEFAULT_MAX_RELATIONS_PER_TYPE, RelationIndex};
use playbill::model::EntityRef;
use playbill::status::render;
use serde_json::Value;

use crate::catalog::Obj;

/// The status the index wants for `r`, rendered at `now` for an object with no status yet. The
/// bench's only question to the index.
pub fn desired_status(index: &RelationIndex, r: &EntityRef, now: &Time) -> Option<EntityStatus> {
    playbill::status::desired(index, r).map(|d| render(&d, None, now))
}

/// A status with the one field no pure computation can know (lastTransitionTime) blanked.
pub fn normalise(mut s: EntityStatus) -> EntityStatus {
    for c in &mut s.conditions {
        c.last_transition_time = Time(Default::default());
    }
    s
}

/// The catalog as the bench has made it, and the normalised status every object should have.
pub struct Model {
    pub index: RelationIndex,
    pub objs: BTreeMap<String, Obj>,
    pub expected: HashMap<String, EntityStatus>,
}

impl Model {
    pub fn new(objs: &[Obj]) -> Model {
        let mut m = Model {
            index: RelationIndex::new(DEFAULT_MAX_RELATIONS_PER_TYPE),
            objs: BTreeMap::new(),
            expected: HashMap::new(),
        };
        for o in objs {
            m.upsert_quiet(o.clone());
        }
        m.recompute(None);
        m
    }

    fn upsert_quiet(&mut self, o: Obj) {
        let entity = entity_from_value(o.manifest())
            .expect("a catalog kind")
            .expect("a valid entity");
        self.index.upsert(&entity, Some(o.generation));
        self.objs.insert(o.key(), o);
    }

    /// Recomputes the expected status of every entity the index marked, plus `removed`; returns
    /// the keys whose expectation changed.
    fn recompute(&mut self, removed: Option<String>) -> Vec<String> {
        let zero = Time(Default::default());
        let mut changed = Vec::new();
        for r in self.index.take_dirty() {
            let Some(status) = desired_status(&self.index, &r, &zero) else {
                continue;
            };
            let status = normalise(status);
            let key = r.to_string();
            if self.expected.get(&key) != Some(&status) {
                self.expected.insert(key.clone(), status);
                changed.push(key);
            }
        }
        if let Some(key) = removed
            && self.expected.remove(&key).is_some()
        {
            changed.push(key);
        }
        changed
    }

    /// Creates or changes `o`; returns the keys whose expected status changed.
    pub fn upsert(&mut self, o: Obj) -> Vec<String> {
        self.upsert_quiet(o);
        self.recompute(None)
    }

    /// Deletes the object `key`; returns the keys whose expected status changed.
    pub fn remove(&mut self, key: &str) -> Vec<String> {
        let o = self.objs.remove(key).expect("known object");
        self.index.remove(&o.entity_ref());
        self.recompute(Some(key.to_owned()))
    }

    /// The status patch for each of `objs` (in that order), as the operator would write it at
    /// `now`.
    pub fn status_patches<'a>(&self, objs: &'a [Obj], now: &Time) -> Vec<(&'a Obj, Value)> {
        objs.iter()
            .map(|o| {
                let status =
                    desired_status(&self.index, &o.entity_ref(), now).expect("a desired status");
                (o, playbill::controller::status_patch(o.kind, &status))
            })
            .collect()
    }
}
