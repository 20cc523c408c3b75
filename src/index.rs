//! The relation index: the catalog's reference graph, kept up to date from entity upserts and
//! removals, yielding each entity's desired status and which entities' desired status may have
//! changed. Pure: no I/O, no clocks.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use crate::api::{EntityStatus, RelationEntry, UnresolvedRef};
use crate::model::{Entity, EntityRef, Hierarchy, Kind, RefError, RefRule, Relation, RelationType};

/// How many relations of one type a status lists by default (SPEC §4).
pub const DEFAULT_MAX_RELATIONS_PER_TYPE: usize = 1000;
/// How many problems the Ready message spells out before summarising the rest.
const MAX_MESSAGE_PROBLEMS: usize = 5;

/// The Ready condition an entity should have, without a transition time (that needs a clock).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Readiness {
    pub ready: bool,
    pub reason: &'static str,
    pub message: String,
}

/// What an entity's status should say.
#[derive(Clone, Debug, PartialEq)]
pub struct Desired {
    /// Everything but conditions.
    pub status: EntityStatus,
    pub readiness: Readiness,
}

/// One reference an entity holds, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Held {
    path: String,
    raw: String,
    rule: &'static RefRule,
    target: Result<EntityRef, RefError>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Node {
    kind: Kind,
    generation: Option<i64>,
    held: Vec<Held>,
    spec_error: Option<String>,
}

impl Node {
    fn targets(&self) -> impl Iterator<Item = &EntityRef> {
        self.held.iter().filter_map(|h| h.target.as_ref().ok())
    }

    /// `(child, parent)` edges this node states in a same-kind hierarchy.
    fn hierarchy_edges(&self, me: &EntityRef) -> Vec<(EntityRef, EntityRef)> {
        self.held
            .iter()
            .filter_map(|h| {
                let t = h.target.as_ref().ok()?;
                if t.kind != me.kind {
                    return None;
                }
                match h.rule.hierarchy {
                    Hierarchy::None => None,
                    Hierarchy::TargetIsParent => Some((me.clone(), t.clone())),
                    Hierarchy::TargetIsChild => Some((t.clone(), me.clone())),
                }
            })
            .collect()
    }
}

fn has_hierarchy(kind: Kind) -> bool {
    crate::model::rules_for(kind).any(|r| r.hierarchy != Hierarchy::None)
}

/// The reference graph of the whole catalog.
#[derive(Debug)]
pub struct RelationIndex {
    nodes: HashMap<EntityRef, Node>,
    /// For every target, the entities holding a reference to it (whether or not it exists).
    referrers: HashMap<EntityRef, HashSet<EntityRef>>,
    /// Entities on a hierarchy cycle, with an id shared by the members of one cycle.
    cycles: HashMap<EntityRef, usize>,
    cycles_stale: bool,
    dirty: HashSet<EntityRef>,
    max_per_type: usize,
}

impl Default for RelationIndex {
    fn default() -> Self {
        RelationIndex::new(DEFAULT_MAX_RELATIONS_PER_TYPE)
    }
}

impl RelationIndex {
    pub fn new(max_relations_per_type: usize) -> RelationIndex {
        RelationIndex {
            nodes: HashMap::new(),
            referrers: HashMap::new(),
            cycles: HashMap::new(),
            cycles_stale: false,
            dirty: HashSet::new(),
            max_per_type: max_relations_per_type.max(1),
        }
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    pub fn contains(&self, r: &EntityRef) -> bool {
        self.nodes.contains_key(r)
    }

    /// Every entity in the catalog.
    pub fn refs(&self) -> impl Iterator<Item = &EntityRef> {
        self.nodes.keys()
    }

    /// Adds or replaces an entity. `generation` is its metadata.generation.
    pub fn upsert(&mut self, entity: &Entity, generation: Option<i64>) {
        let me = entity.entity_ref();
        let held = entity
            .parsed_refs()
            .map(|p| Held {
                path: p.raw.path(),
                raw: p.raw.value.clone(),
                rule: p.rule,
                target: p.target,
            })
            .collect();
        self.put(
            me,
            Node {
                kind: entity.kind,
                generation,
                held,
                spec_error: None,
            },
        );
    }

    /// Records an object whose spec cannot be read: it exists, holds no references, and its
    /// status says why.
    pub fn upsert_invalid(
        &mut self,
        me: EntityRef,
        kind: Kind,
        generation: Option<i64>,
        error: String,
    ) {
        self.put(
            me,
            Node {
                kind,
                generation,
                held: Vec::new(),
                spec_error: Some(error),
            },
        );
    }

    fn put(&mut self, me: EntityRef, node: Node) {
        if self.nodes.get(&me) == Some(&node) {
            return;
        }
        let new_edges = node.hierarchy_edges(&me);
        for t in node.targets() {
            self.referrers
                .entry(t.clone())
                .or_default()
                .insert(me.clone());
            self.dirty.insert(t.clone());
        }
        let kind = node.kind;
        let old = self.nodes.insert(me.clone(), node);
        match &old {
            Some(old) => {
                self.unlink(&me, old);
                if old.hierarchy_edges(&me) != new_edges {
                    self.cycles_stale = true;
                }
            }
            None => {
                self.mark_referrers(&me);
                if has_hierarchy(kind) {
                    self.cycles_stale = true;
                }
            }
        }
        self.dirty.insert(me);
    }

    /// Removes an entity.
    pub fn remove(&mut self, me: &EntityRef) {
        let Some(old) = self.nodes.remove(me) else {
            return;
        };
        self.unlink(me, &old);
        self.mark_referrers(me);
        if has_hierarchy(old.kind) {
            self.cycles_stale = true;
        }
    }

    /// Drops `me` from the referrers of targets `old` pointed at and `me` no longer does.
    fn unlink(&mut self, me: &EntityRef, old: &Node) {
        let still: HashSet<&EntityRef> = self
            .nodes
            .get(me)
            .map(|n| n.targets().collect())
            .unwrap_or_default();
        for t in old.targets() {
            self.dirty.insert(t.clone());
            if still.contains(t) {
                continue;
            }
            if let Some(set) = self.referrers.get_mut(t) {
                set.remove(me);
                if set.is_empty() {
                    self.referrers.remove(t);
                }
            }
        }
    }

    fn mark_referrers(&mut self, me: &EntityRef) {
        if let Some(holders) = self.referrers.get(me) {
            self.dirty.extend(holders.iter().cloned());
        }
    }

    /// Marks one entity for re-evaluation, e.g. because its observed status changed.
    pub fn mark(&mut self, r: &EntityRef) {
        if self.nodes.contains_key(r) {
            self.dirty.insert(r.clone());
        }
    }

    /// Marks every entity for re-evaluation (a full resync).
    pub fn mark_all(&mut self) {
        self.dirty.extend(self.nodes.keys().cloned());
    }

    /// The entities whose desired status may have changed since the last call. Every entity whose
    /// desired status did change is in it; some whose did not may be too.
    pub fn take_dirty(&mut self) -> Vec<EntityRef> {
        if self.cycles_stale {
            let before = std::mem::take(&mut self.cycles);
            self.cycles = self.find_cycles();
            self.cycles_stale = false;
            // Cycles are rare and their messages list their members: re-evaluate every entity
            // that was or is on one.
            self.dirty
                .extend(before.into_keys().chain(self.cycles.keys().cloned()));
        }
        let mut out: Vec<EntityRef> = self
            .dirty
            .drain()
            .filter(|r| self.nodes.contains_key(r))
            .collect();
        out.sort();
        out
    }

    /// Every entity on a loop of a same-kind hierarchy (strongly connected components of the
    /// child→parent graph with more than one member, or a self-loop).
    fn find_cycles(&self) -> HashMap<EntityRef, usize> {
        let mut edges: HashMap<&EntityRef, Vec<EntityRef>> = HashMap::new();
        let mut self_loops = Vec::new();
        for (me, node) in &self.nodes {
            if !has_hierarchy(node.kind) {
                continue;
            }
            for (child, parent) in node.hierarchy_edges(me) {
                let (Some((c, _)), true) = (
                    self.nodes.get_key_value(&child),
                    self.nodes.contains_key(&parent),
                ) else {
                    continue;
                };
                if child == parent {
                    self_loops.push(child.clone());
                }
                edges.entry(c).or_default().push(parent);
            }
        }
        let mut cycles = HashMap::new();
        for (id, scc) in strongly_connected(&edges).into_iter().enumerate() {
            if scc.len() > 1 {
                cycles.extend(scc.into_iter().map(|r| (r, id)));
            }
        }
        let next = cycles.values().max().map_or(0, |m| m + 1);
        for (i, r) in self_loops.into_iter().enumerate() {
            cycles.entry(r).or_insert(next + i);
        }
        cycles
    }

    /// The status `me` should have, or `None` if it is not in the catalog.
    ///
    /// Call [`take_dirty`](Self::take_dirty) first so cycle membership is current.
    pub fn desired(&self, me: &EntityRef) -> Option<Desired> {
        let node = self.nodes.get(me)?;
        let mut relations: BTreeSet<Relation> = BTreeSet::new();
        for h in &node.held {
            if let Ok(t) = &h.target {
                relations.insert(Relation {
                    rtype: h.rule.forward,
                    target: t.to_string(),
                });
            }
        }
        for holder in self.referrers.get(me).into_iter().flatten() {
            let Some(hn) = self.nodes.get(holder) else {
                continue;
            };
            for h in &hn.held {
                if h.target.as_ref() == Ok(me) {
                    relations.insert(Relation {
                        rtype: h.rule.reverse,
                        target: holder.to_string(),
                    });
                }
            }
        }

        let mut per_type: BTreeMap<RelationType, i64> = BTreeMap::new();
        let mut listed = Vec::with_capacity(relations.len());
        for r in relations {
            let n = per_type.entry(r.rtype).or_default();
            *n += 1;
            if *n as usize <= self.max_per_type {
                listed.push(RelationEntry {
                    type_: r.rtype.as_str().to_owned(),
                    target_ref: r.target,
                });
            }
        }
        let truncated = per_type.values().any(|&n| n as usize > self.max_per_type);
        let count = |t: RelationType| per_type.get(&t).copied().unwrap_or(0);

        let unresolved = self.unresolved(node);
        let readiness = self.readiness(me, node, &unresolved);

        let mut status = EntityStatus {
            observed_generation: node.generation,
            entity_ref: Some(me.to_string()),
            relations: listed,
            relation_counts: truncated.then(|| {
                per_type
                    .iter()
                    .map(|(t, n)| (t.as_str().to_owned(), *n))
                    .collect()
            }),
            unresolved_refs: unresolved.into_iter().take(self.max_per_type).collect(),
            ..EntityStatus::default()
        };
        match node.kind {
            Kind::System | Kind::Domain | Kind::Component => {
                status.parts = Some(count(RelationType::HasPart))
            }
            Kind::Api => {
                status.providers = Some(count(RelationType::ApiProvidedBy));
                status.consumers = Some(count(RelationType::ApiConsumedBy));
            }
            Kind::Group => {
                status.members = Some(count(RelationType::HasMember));
                status.children = Some(count(RelationType::ParentOf));
                status.owns = Some(count(RelationType::OwnerOf));
            }
            Kind::User => {
                status.groups = Some(count(RelationType::MemberOf));
                status.owns = Some(count(RelationType::OwnerOf));
            }
            Kind::Resource => {}
        }
        Some(Desired { status, readiness })
    }

    fn unresolved(&self, node: &Node) -> Vec<UnresolvedRef> {
        let mut out = Vec::new();
        for h in &node.held {
            let (target_ref, reason, message) = match &h.target {
                Err(e) => (h.raw.clone(), "InvalidReference", e.to_string()),
                Ok(t) if !h.rule.allows(&t.kind) => {
                    let what = match t.known_kind() {
                        Some(k) if self.nodes.contains_key(t) => format!("{t} is a {k}"),
                        Some(k) => format!("{t} names a {k}"),
                        None => format!("{t} names unknown kind {:?}", t.kind),
                    };
                    (
                        t.to_string(),
                        "InvalidKind",
                        format!("{what}; {} must name {}", h.rule.field, allowed(h.rule)),
                    )
                }
                Ok(t) if !self.nodes.contains_key(t) => {
                    (t.to_string(), "NotFound", format!("{t} not found"))
                }
                Ok(_) => continue,
            };
            out.push(UnresolvedRef {
                field: h.path.clone(),
                target_ref,
                reason: reason.to_owned(),
                message: Some(message),
            });
        }
        out
    }

    fn readiness(&self, me: &EntityRef, node: &Node, unresolved: &[UnresolvedRef]) -> Readiness {
        if let Some(e) = &node.spec_error {
            return Readiness {
                ready: false,
                reason: "InvalidSpec",
                message: e.clone(),
            };
        }
        let mut problems: Vec<String> = unresolved
            .iter()
            .map(|u| format!("{}: {}", u.field, u.message.as_deref().unwrap_or(&u.reason)))
            .collect();
        if let Some(id) = self.cycles.get(me) {
            let members: BTreeSet<String> = self
                .cycles
                .iter()
                .filter(|(_, i)| *i == id)
                .map(|(r, _)| r.to_string())
                .collect();
            let field = node
                .held
                .iter()
                .find(|h| {
                    h.rule.hierarchy != Hierarchy::None
                        && h.target
                            .as_ref()
                            .is_ok_and(|t| self.cycles.get(t) == Some(id))
                })
                .map(|h| format!("{}: ", h.path))
                .unwrap_or_default();
            let chain = members.into_iter().collect::<Vec<_>>().join(", ");
            problems.push(format!("{field}{me} is part of a hierarchy cycle: {chain}"));
        }
        let reason = if unresolved.iter().any(|u| u.reason == "InvalidReference") {
            "InvalidReference"
        } else if !unresolved.is_empty() {
            "UnresolvedReferences"
        } else if self.cycles.contains_key(me) {
            "CycleDetected"
        } else {
            let n = node.held.len();
            let message = match n {
                0 => "no references to resolve".to_owned(),
                1 => "1 reference resolved".to_owned(),
                n => format!("all {n} references resolved"),
            };
            return Readiness {
                ready: true,
                reason: "Resolved",
                message,
            };
        };
        let total = problems.len();
        let mut message = problems
            .into_iter()
            .take(MAX_MESSAGE_PROBLEMS)
            .collect::<Vec<_>>()
            .join("; ");
        if total > MAX_MESSAGE_PROBLEMS {
            message.push_str(&format!("; and {} more", total - MAX_MESSAGE_PROBLEMS));
        }
        Readiness {
            ready: false,
            reason,
            message,
        }
    }
}

fn allowed(rule: &RefRule) -> String {
    let names: Vec<&str> = rule.allowed.iter().map(|k| k.name()).collect();
    match names.as_slice() {
        [one] => format!("a {one}"),
        [a, b] => format!("a {a} or {b}"),
        _ => names.join(", "),
    }
}

/// Tarjan's algorithm, iterative so deep hierarchies cannot overflow the stack.
fn strongly_connected(edges: &HashMap<&EntityRef, Vec<EntityRef>>) -> Vec<Vec<EntityRef>> {
    let mut index: HashMap<&EntityRef, usize> = HashMap::new();
    let mut low: HashMap<&EntityRef, usize> = HashMap::new();
    let mut on_stack: HashSet<&EntityRef> = HashSet::new();
    let mut stack: Vec<&EntityRef> = Vec::new();
    let mut out = Vec::new();
    let mut next = 0;
    let empty = Vec::new();
    let mut roots: Vec<&EntityRef> = edges.keys().copied().collect();
    roots.sort();
    for root in roots {
        if index.contains_key(root) {
            continue;
        }
        // (node, position in its edge list)
        let mut work: Vec<(&EntityRef, usize)> = vec![(root, 0)];
        while let Some(&mut (v, ref mut pos)) = work.last_mut() {
            if *pos == 0 && !index.contains_key(v) {
                index.insert(v, next);
                low.insert(v, next);
                next += 1;
                stack.push(v);
                on_stack.insert(v);
            }
            let succ = edges.get(v).unwrap_or(&empty);
            if let Some(w) = succ.get(*pos) {
                *pos += 1;
                let w = edges.get_key_value(w).map(|(k, _)| *k).unwrap_or(w);
                if !index.contains_key(w) {
                    work.push((w, 0));
                } else if on_stack.contains(w) {
                    let lw = index[w];
                    let lv = low.get_mut(v).unwrap();
                    *lv = (*lv).min(lw);
                }
                continue;
            }
            work.pop();
            if let Some(&(parent, _)) = work.last() {
                let lv = low[v];
                let lp = low.get_mut(parent).unwrap();
                *lp = (*lp).min(lv);
            }
            if low[v] == index[v] {
                let mut scc = Vec::new();
                while let Some(w) = stack.pop() {
                    on_stack.remove(w);
                    scc.push(w.clone());
                    if w == v {
                        break;
                    }
                }
                out.push(scc);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests;
