//! The view of a catalog entity that the pure core works on: its identity and the references it
//! holds, free of any Kubernetes type.

use super::kind::{Kind, RelationType};
use super::reference::{EntityRef, RefError, parse_ref};
use super::rules::{RefRule, rule};

/// A reference as written in one field of an entity's spec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawRef {
    /// The key under `spec` (`owner`, `dependsOn`, ...).
    pub field: &'static str,
    /// The position in a list field; `None` for a single-valued field.
    pub index: Option<usize>,
    /// The reference exactly as the user wrote it.
    pub value: String,
}

impl RawRef {
    /// The field path users see in messages: `spec.owner`, `spec.dependsOn[2]`.
    pub fn path(&self) -> String {
        match self.index {
            Some(i) => format!("spec.{}[{i}]", self.field),
            None => format!("spec.{}", self.field),
        }
    }
}

/// A catalog entity reduced to what relation resolution needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entity {
    pub kind: Kind,
    pub namespace: String,
    pub name: String,
    pub refs: Vec<RawRef>,
}

/// A reference of an entity after parsing, with the rule that governs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedRef<'a> {
    pub raw: &'a RawRef,
    pub rule: &'static RefRule,
    pub target: Result<EntityRef, RefError>,
}

impl Entity {
    pub fn entity_ref(&self) -> EntityRef {
        EntityRef::of(self.kind, &self.namespace, &self.name)
    }

    /// Parses every reference the entity holds. References in fields the kind does not have are
    /// ignored, as Backstage ignores them.
    pub fn parsed_refs(&self) -> impl Iterator<Item = ParsedRef<'_>> {
        self.refs.iter().filter_map(move |raw| {
            let rule = rule(self.kind, raw.field)?;
            let target = parse_ref(&raw.value, rule.default_kind, &self.namespace);
            Some(ParsedRef { raw, rule, target })
        })
    }

    /// The relation rows this entity's references produce: `(source, type, target)`, forward rows
    /// on the entity and reverse rows on each target. References that do not parse produce none.
    pub fn relation_rows(&self) -> Vec<(EntityRef, RelationType, EntityRef)> {
        self.relation_rows_where(|_, _| true)
    }

    /// [`relation_rows`](Self::relation_rows) of the references `counts` accepts, given the rule
    /// of the field that holds each and its target.
    pub fn relation_rows_where(
        &self,
        counts: impl Fn(&RefRule, &EntityRef) -> bool,
    ) -> Vec<(EntityRef, RelationType, EntityRef)> {
        let me = self.entity_ref();
        let mut rows = Vec::new();
        for parsed in self.parsed_refs() {
            if let Ok(target) = parsed.target
                && counts(parsed.rule, &target)
            {
                rows.push((me.clone(), parsed.rule.forward, target.clone()));
                rows.push((target, parsed.rule.reverse, me.clone()));
            }
        }
        rows
    }
}

/// Builds the reference list of an entity from its spec fields; used by the API types.
#[derive(Default)]
pub struct RefCollector {
    refs: Vec<RawRef>,
}

impl RefCollector {
    pub fn one(mut self, field: &'static str, value: Option<&str>) -> Self {
        if let Some(v) = value {
            self.refs.push(RawRef {
                field,
                index: None,
                value: v.to_owned(),
            });
        }
        self
    }

    pub fn many<'a>(
        mut self,
        field: &'static str,
        values: impl IntoIterator<Item = &'a str>,
    ) -> Self {
        for (i, v) in values.into_iter().enumerate() {
            self.refs.push(RawRef {
                field,
                index: Some(i),
                value: v.to_owned(),
            });
        }
        self
    }

    pub fn finish(self) -> Vec<RawRef> {
        self.refs
    }
}
