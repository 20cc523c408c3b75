//! The relation index: the catalog's reference graph, kept up to date from entity upserts and
//! removals, yielding each entity's [`Resolution`] and which entities' resolution may have
//! changed. Pure: no I/O, no clocks, and no notion of how a status is written; the product maps a
//! resolution onto its custom resources.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use crate::consent::{Consents, CrossNamespaceRefs, Grant};
use crate::model::{Entity, EntityRef, Hierarchy, Kind, RefError, RefRule, Relation, RelationType};

/// How many relations of one type a status lists by default (docs/reference.md#limits).
pub const DEFAULT_MAX_RELATIONS_PER_TYPE: usize = 1000;
/// How many problems the Ready message spells out before summarising the rest.
const MAX_MESSAGE_PROBLEMS: usize = 5;

/// Why a reference an entity holds does not resolve.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ProblemReason {
    /// The target is well formed and of an allowed kind, but no such entity exists.
    NotFound,
    /// The target names a kind the field does not allow.
    InvalidKind,
    /// The text is not a reference at all.
    InvalidReference,
    /// The target is in another namespace, and no grant there permits this reference
    /// (`--cross-namespace-refs=consent`).
    RefNotPermitted,
}

/// One reference that does not resolve.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// Where it is written, e.g. `spec.dependsOn[1]`.
    pub field: String,
    /// The canonical reference, or the text as written when it does not parse.
    pub target: String,
    pub reason: ProblemReason,
    /// A sentence for people; the Ready message is made of these.
    pub message: String,
}

/// Why an entity is or is not Ready. When several apply, the first of InvalidSpec,
/// InvalidReference, UnresolvedReferences, CycleDetected wins: a spec that cannot be read hides
/// everything else, and a malformed reference outranks a missing one because only an edit of the
/// entity itself can fix it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ReadyReason {
    Resolved,
    UnresolvedReferences,
    InvalidReference,
    CycleDetected,
    InvalidSpec,
}

/// The Ready condition an entity should have, without a transition time (that needs a clock).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Readiness {
    pub ready: bool,
    pub reason: ReadyReason,
    pub message: String,
}

/// What the catalog says about one entity: the model-level answer the status is made from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolution {
    pub kind: Kind,
    /// The metadata.generation the entity was upserted with.
    pub generation: Option<i64>,
    /// Its relations, sorted by type then target, at most the index's cap per type.
    pub relations: Vec<Relation>,
    /// How many relations of each type it has in full, listed or not; types with none are absent.
    pub counts: BTreeMap<RelationType, usize>,
    /// Whether the cap left some relations out of `relations`.
    pub truncated: bool,
    /// The references that do not resolve, in field order, at most the index's cap.
    pub problems: Vec<Problem>,
    /// How many references do not resolve in full, listed or not.
    pub problem_count: usize,
    /// The members of the same-kind hierarchy cycle it is on (itself included), or empty.
    pub cycle: Vec<EntityRef>,
    /// Why its spec could not be read, for an object recorded with
    /// [`RelationIndex::upsert_invalid`].
    pub spec_error: Option<String>,
    pub readiness: Readiness,
}

impl Resolution {
    /// How many relations of type `t` it has in full.
    pub fn count(&self, t: RelationType) -> usize {
        self.counts.get(&t).copied().unwrap_or(0)
    }
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

    /// The namespaces other than `me`'s that this node's references point into.
    fn foreign_namespaces<'a>(&'a self, me: &'a EntityRef) -> HashSet<&'a str> {
        self.targets()
            .filter(|t| t.namespace != me.namespace)
            .map(|t| t.namespace.as_str())
            .collect()
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
    /// The grants and namespace labels, and whether they are enforced.
    consents: Consents,
    /// For every namespace, the entities elsewhere holding a reference into it: those a change of
    /// its grants can affect.
    inbound: HashMap<String, HashSet<EntityRef>>,
    /// For every namespace, its entities holding a reference into another namespace: those a
    /// change of its labels can affect.
    outbound: HashMap<String, HashSet<EntityRef>>,
}

impl Default for RelationIndex {
    fn default() -> Self {
        RelationIndex::new(DEFAULT_MAX_RELATIONS_PER_TYPE)
    }
}

impl RelationIndex {
    /// An index in which references cross namespaces freely (Backstage's behaviour).
    pub fn new(max_relations_per_type: usize) -> RelationIndex {
        RelationIndex::with_mode(max_relations_per_type, CrossNamespaceRefs::Allow)
    }

    /// An index that treats references across namespaces as `mode` says.
    pub fn with_mode(max_relations_per_type: usize, mode: CrossNamespaceRefs) -> RelationIndex {
        RelationIndex {
            consents: Consents::new(mode),
            inbound: HashMap::new(),
            outbound: HashMap::new(),
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

    /// Adds or replaces an entity. `generation` is its metadata.generation. Returns whether
    /// anything changed (an identical upsert marks nothing).
    pub fn upsert(&mut self, entity: &Entity, generation: Option<i64>) -> bool {
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
        )
    }

    /// Records an object whose spec cannot be read: it exists, holds no references, and its
    /// status says why. Returns whether anything changed.
    pub fn upsert_invalid(
        &mut self,
        me: EntityRef,
        kind: Kind,
        generation: Option<i64>,
        error: String,
    ) -> bool {
        self.put(
            me,
            Node {
                kind,
                generation,
                held: Vec::new(),
                spec_error: Some(error),
            },
        )
    }

    fn put(&mut self, me: EntityRef, node: Node) -> bool {
        if self.nodes.get(&me) == Some(&node) {
            return false;
        }
        let new_edges = node.hierarchy_edges(&me);
        let old_foreign: HashSet<String> = self
            .nodes
            .get(&me)
            .map(|n| {
                n.foreign_namespaces(&me)
                    .into_iter()
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        self.relink_foreign(&me, &old_foreign, &node.foreign_namespaces(&me));
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
        true
    }

    /// Removes an entity.
    pub fn remove(&mut self, me: &EntityRef) {
        let Some(old) = self.nodes.remove(me) else {
            return;
        };
        let old_foreign: HashSet<String> = old
            .foreign_namespaces(me)
            .into_iter()
            .map(str::to_owned)
            .collect();
        self.relink_foreign(me, &old_foreign, &HashSet::new());
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

    /// Keeps `inbound` and `outbound` in step with the namespaces `me` refers into.
    fn relink_foreign(&mut self, me: &EntityRef, old: &HashSet<String>, new: &HashSet<&str>) {
        for ns in old.iter().filter(|ns| !new.contains(ns.as_str())) {
            if let Some(set) = self.inbound.get_mut(ns) {
                set.remove(me);
                if set.is_empty() {
                    self.inbound.remove(ns);
                }
            }
        }
        for ns in new.iter().filter(|ns| !old.contains(**ns)) {
            self.inbound
                .entry((*ns).to_owned())
                .or_default()
                .insert(me.clone());
        }
        match (old.is_empty(), new.is_empty()) {
            (false, true) => {
                if let Some(set) = self.outbound.get_mut(&me.namespace) {
                    set.remove(me);
                    if set.is_empty() {
                        self.outbound.remove(&me.namespace);
                    }
                }
            }
            (true, false) => {
                self.outbound
                    .entry(me.namespace.clone())
                    .or_default()
                    .insert(me.clone());
            }
            _ => {}
        }
    }

    /// The grants and namespace labels the index knows, and the mode it reads them in.
    pub fn consents(&self) -> &Consents {
        &self.consents
    }

    /// Adds or replaces grant `name` in `namespace`; the references into that namespace are
    /// re-evaluated. Returns whether anything changed.
    pub fn upsert_grant(&mut self, namespace: &str, name: &str, grant: Grant) -> bool {
        let changed = self.consents.set_grant(namespace, name, grant);
        if changed {
            self.mark_inbound(&namespace.to_ascii_lowercase());
        }
        changed
    }

    /// Removes grant `name` from `namespace`. Returns whether it was there.
    pub fn remove_grant(&mut self, namespace: &str, name: &str) -> bool {
        let changed = self.consents.remove_grant(namespace, name);
        if changed {
            self.mark_inbound(&namespace.to_ascii_lowercase());
        }
        changed
    }

    /// Records a namespace's labels, which grants with a namespace selector match. Returns
    /// whether anything changed.
    pub fn upsert_namespace(&mut self, namespace: &str, labels: BTreeMap<String, String>) -> bool {
        let selects = self.consents.selects_by_label();
        let changed = self.consents.set_namespace(namespace, labels);
        if changed && selects {
            self.mark_outbound(&namespace.to_ascii_lowercase());
        }
        changed
    }

    /// Forgets a deleted namespace: its labels and its grants. Returns whether anything changed.
    pub fn remove_namespace(&mut self, namespace: &str) -> bool {
        let namespace = namespace.to_ascii_lowercase();
        let changed = self.consents.remove_namespace(&namespace);
        if changed {
            self.mark_inbound(&namespace);
            self.mark_outbound(&namespace);
        }
        changed
    }

    /// Marks every reference into `namespace` from elsewhere, both ends.
    fn mark_inbound(&mut self, namespace: &str) {
        if self.consents.mode() == CrossNamespaceRefs::Allow {
            return;
        }
        let holders: Vec<EntityRef> = self
            .inbound
            .get(namespace)
            .into_iter()
            .flatten()
            .cloned()
            .collect();
        for h in holders {
            self.mark_foreign(&h, |t| t.namespace == namespace);
        }
    }

    /// Marks every reference from `namespace` into another namespace, both ends.
    fn mark_outbound(&mut self, namespace: &str) {
        if self.consents.mode() == CrossNamespaceRefs::Allow {
            return;
        }
        let holders: Vec<EntityRef> = self
            .outbound
            .get(namespace)
            .into_iter()
            .flatten()
            .cloned()
            .collect();
        for h in holders {
            self.mark_foreign(&h, |t| t.namespace != h.namespace);
        }
    }

    /// Marks `holder` and the targets of its references that `which` picks; a hierarchy edge
    /// among them makes cycle detection due, since permission decides whether the edge counts.
    fn mark_foreign(&mut self, holder: &EntityRef, which: impl Fn(&EntityRef) -> bool) {
        let Some(node) = self.nodes.get(holder) else {
            return;
        };
        for h in &node.held {
            let Ok(t) = &h.target else { continue };
            if which(t) {
                self.dirty.insert(t.clone());
                if h.rule.hierarchy != Hierarchy::None {
                    self.cycles_stale = true;
                }
            }
        }
        self.dirty.insert(holder.clone());
    }

    /// Whether the reference `h` held by `holder` counts.
    fn permitted(&self, holder: &EntityRef, h: &Held, target: &EntityRef) -> bool {
        self.consents
            .permits(&holder.namespace, h.rule.forward, target)
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
            for (child, parent) in self.permitted_hierarchy_edges(me, node) {
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

    /// The hierarchy edges `node` states whose reference counts.
    fn permitted_hierarchy_edges(
        &self,
        me: &EntityRef,
        node: &Node,
    ) -> Vec<(EntityRef, EntityRef)> {
        node.hierarchy_edges(me)
            .into_iter()
            .filter(|(child, parent)| {
                let target = if child == me { parent } else { child };
                node.held.iter().any(|h| {
                    h.rule.hierarchy != Hierarchy::None
                        && h.target.as_ref() == Ok(target)
                        && self.permitted(me, h, target)
                })
            })
            .collect()
    }

    /// What `me` resolves to, or `None` if it is not in the catalog.
    ///
    /// Call [`take_dirty`](Self::take_dirty) first so cycle membership is current.
    pub fn resolve(&self, me: &EntityRef) -> Option<Resolution> {
        let node = self.nodes.get(me)?;
        let mut relations: BTreeSet<Relation> = BTreeSet::new();
        for h in &node.held {
            if let Ok(t) = &h.target
                && self.permitted(me, h, t)
            {
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
                if h.target.as_ref() == Ok(me) && self.permitted(holder, h, me) {
                    relations.insert(Relation {
                        rtype: h.rule.reverse,
                        target: holder.to_string(),
                    });
                }
            }
        }

        let mut counts: BTreeMap<RelationType, usize> = BTreeMap::new();
        let mut listed = Vec::with_capacity(relations.len());
        for r in relations {
            let n = counts.entry(r.rtype).or_default();
            *n += 1;
            if *n <= self.max_per_type {
                listed.push(r);
            }
        }
        let truncated = counts.values().any(|&n| n > self.max_per_type);

        let problems = self.problems(me, node);
        let cycle = self.cycle_of(me);
        let readiness = self.readiness(me, node, &problems, &cycle);
        Some(Resolution {
            kind: node.kind,
            generation: node.generation,
            relations: listed,
            counts,
            truncated,
            problem_count: problems.len(),
            problems: problems.into_iter().take(self.max_per_type).collect(),
            cycle,
            spec_error: node.spec_error.clone(),
            readiness,
        })
    }

    fn problems(&self, me: &EntityRef, node: &Node) -> Vec<Problem> {
        let mut out = Vec::new();
        for h in &node.held {
            let (target, reason, message) = match &h.target {
                Err(e) => (
                    h.raw.clone(),
                    ProblemReason::InvalidReference,
                    e.to_string(),
                ),
                // Checked before the target's kind and existence: without consent, nothing about
                // another namespace's entities is told.
                Ok(t) if !self.permitted(me, h, t) => (
                    t.to_string(),
                    ProblemReason::RefNotPermitted,
                    format!(
                        "{t} is in namespace {}, which does not permit {} references from namespace {}",
                        t.namespace, h.rule.forward, me.namespace
                    ),
                ),
                Ok(t) if !h.rule.allows(&t.kind) => {
                    let what = match t.known_kind() {
                        Some(k) if self.nodes.contains_key(t) => format!("{t} is a {k}"),
                        Some(k) => format!("{t} names a {k}"),
                        None => format!("{t} names unknown kind {:?}", t.kind),
                    };
                    (
                        t.to_string(),
                        ProblemReason::InvalidKind,
                        format!("{what}; {} must name {}", h.rule.field, allowed(h.rule)),
                    )
                }
                Ok(t) if !self.nodes.contains_key(t) => (
                    t.to_string(),
                    ProblemReason::NotFound,
                    format!("{t} not found"),
                ),
                Ok(_) => continue,
            };
            out.push(Problem {
                field: h.path.clone(),
                target,
                reason,
                message,
            });
        }
        out
    }

    /// The members of the hierarchy cycle `me` is on, in the order the Ready message names them.
    fn cycle_of(&self, me: &EntityRef) -> Vec<EntityRef> {
        let Some(id) = self.cycles.get(me) else {
            return Vec::new();
        };
        let mut members: Vec<(String, EntityRef)> = self
            .cycles
            .iter()
            .filter(|(_, i)| *i == id)
            .map(|(r, _)| (r.to_string(), r.clone()))
            .collect();
        // By the written reference, not by EntityRef's field order: the message lists them so.
        members.sort();
        members.into_iter().map(|(_, r)| r).collect()
    }

    fn readiness(
        &self,
        me: &EntityRef,
        node: &Node,
        problems: &[Problem],
        cycle: &[EntityRef],
    ) -> Readiness {
        if let Some(e) = &node.spec_error {
            return Readiness {
                ready: false,
                reason: ReadyReason::InvalidSpec,
                message: e.clone(),
            };
        }
        let mut lines: Vec<String> = problems
            .iter()
            .map(|p| format!("{}: {}", p.field, p.message))
            .collect();
        if let Some(id) = self.cycles.get(me) {
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
            let chain = cycle
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            lines.push(format!("{field}{me} is part of a hierarchy cycle: {chain}"));
        }
        let reason = if problems
            .iter()
            .any(|p| p.reason == ProblemReason::InvalidReference)
        {
            ReadyReason::InvalidReference
        } else if !problems.is_empty() {
            ReadyReason::UnresolvedReferences
        } else if !cycle.is_empty() {
            ReadyReason::CycleDetected
        } else {
            let n = node.held.len();
            let message = match n {
                0 => "no references to resolve".to_owned(),
                1 => "1 reference resolved".to_owned(),
                n => format!("all {n} references resolved"),
            };
            return Readiness {
                ready: true,
                reason: ReadyReason::Resolved,
                message,
            };
        };
        let total = lines.len();
        let mut message = lines
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
