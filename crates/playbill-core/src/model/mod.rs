//! The pure core: entity references, relation rules and relations. No I/O lives here.

pub mod entity;
pub mod keys;
pub mod kind;
pub mod reference;
pub mod relations;
pub mod rules;

pub use entity::{Entity, ParsedRef, RawRef, RefCollector};
pub use keys::{CUSTOM_KEYS_ANNOTATION, CUSTOM_PREFIX, UnknownKey, custom_keys, unknown_keys};
pub use kind::{Kind, RelationType};
pub use reference::{EntityRef, RefError, parse_ref, split_ref};
pub use relations::{Relation, catalog_relations, catalog_relations_where};
pub use rules::{Hierarchy, RULES, RefRule, rule, rules_for};
