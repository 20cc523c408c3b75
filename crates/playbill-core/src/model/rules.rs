//! The relation rules (docs/reference.md#the-relation-table), as one table: which fields hold references, what kind a
//! reference defaults to, which kinds it may name, and the relations it produces.

use super::kind::{Kind, RelationType};

/// One reference-holding field and the pair of relations each of its references produces.
#[derive(Debug, PartialEq, Eq)]
pub struct RefRule {
    /// Kinds whose `spec` has this field.
    pub holders: &'static [Kind],
    /// The key under `spec`, as users write it.
    pub field: &'static str,
    /// Whether the field is a list of references rather than a single one.
    pub list: bool,
    /// The kind a reference without one takes; `None` means a kind is required.
    pub default_kind: Option<Kind>,
    /// The kinds the target may be.
    pub allowed: &'static [Kind],
    /// The relation on the holder.
    pub forward: RelationType,
    /// The relation on the target.
    pub reverse: RelationType,
    /// Whether this field builds a hierarchy that must not loop (Group parents, subdomains,
    /// subcomponents), and in which direction.
    pub hierarchy: Hierarchy,
}

/// How a field places its holder in a same-kind hierarchy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hierarchy {
    /// Not a hierarchy field.
    None,
    /// The target is the holder's parent (`parent`, `subdomainOf`, `subcomponentOf`).
    TargetIsParent,
    /// The target is the holder's child (`children`).
    TargetIsChild,
}

impl RefRule {
    pub fn allows(&self, kind: &str) -> bool {
        Kind::parse(kind).is_some_and(|k| self.allowed.contains(&k))
    }
}

use Kind::*;
use RelationType::*;

const OWNER_HOLDERS: &[Kind] = &[Component, Api, Resource, System, Domain];
const SYSTEM_HOLDERS: &[Kind] = &[Component, Api, Resource];
const DEPENDENCY_HOLDERS: &[Kind] = &[Component, Resource];
const DEPENDENCY_TARGETS: &[Kind] = &[Component, Resource];

/// Every reference-holding field of every kind.
#[rustfmt::skip]
pub const RULES: &[RefRule] = &[
    RefRule { holders: OWNER_HOLDERS, field: "owner", list: false, default_kind: Some(Group), allowed: &[Group, User], forward: OwnedBy, reverse: OwnerOf, hierarchy: Hierarchy::None },
    RefRule { holders: SYSTEM_HOLDERS, field: "system", list: false, default_kind: Some(System), allowed: &[System], forward: PartOf, reverse: HasPart, hierarchy: Hierarchy::None },
    RefRule { holders: &[Component], field: "subcomponentOf", list: false, default_kind: Some(Component), allowed: &[Component], forward: PartOf, reverse: HasPart, hierarchy: Hierarchy::TargetIsParent },
    RefRule { holders: &[Component], field: "providesApis", list: true, default_kind: Some(Api), allowed: &[Api], forward: ProvidesApi, reverse: ApiProvidedBy, hierarchy: Hierarchy::None },
    RefRule { holders: &[Component], field: "consumesApis", list: true, default_kind: Some(Api), allowed: &[Api], forward: ConsumesApi, reverse: ApiConsumedBy, hierarchy: Hierarchy::None },
    RefRule { holders: DEPENDENCY_HOLDERS, field: "dependsOn", list: true, default_kind: None, allowed: DEPENDENCY_TARGETS, forward: DependsOn, reverse: DependencyOf, hierarchy: Hierarchy::None },
    RefRule { holders: DEPENDENCY_HOLDERS, field: "dependencyOf", list: true, default_kind: None, allowed: DEPENDENCY_TARGETS, forward: DependencyOf, reverse: DependsOn, hierarchy: Hierarchy::None },
    RefRule { holders: &[System], field: "domain", list: false, default_kind: Some(Domain), allowed: &[Domain], forward: PartOf, reverse: HasPart, hierarchy: Hierarchy::None },
    RefRule { holders: &[Domain], field: "subdomainOf", list: false, default_kind: Some(Domain), allowed: &[Domain], forward: PartOf, reverse: HasPart, hierarchy: Hierarchy::TargetIsParent },
    RefRule { holders: &[Group], field: "parent", list: false, default_kind: Some(Group), allowed: &[Group], forward: ChildOf, reverse: ParentOf, hierarchy: Hierarchy::TargetIsParent },
    RefRule { holders: &[Group], field: "children", list: true, default_kind: Some(Group), allowed: &[Group], forward: ParentOf, reverse: ChildOf, hierarchy: Hierarchy::TargetIsChild },
    RefRule { holders: &[Group], field: "members", list: true, default_kind: Some(User), allowed: &[User], forward: HasMember, reverse: MemberOf, hierarchy: Hierarchy::None },
    RefRule { holders: &[User], field: "memberOf", list: true, default_kind: Some(Group), allowed: &[Group], forward: MemberOf, reverse: HasMember, hierarchy: Hierarchy::None },
];

/// The rule for `spec.<field>` of `holder`, if that field holds references.
pub fn rule(holder: Kind, field: &str) -> Option<&'static RefRule> {
    RULES
        .iter()
        .find(|r| r.field == field && r.holders.contains(&holder))
}

/// The reference-holding fields of one kind, in table order.
pub fn rules_for(holder: Kind) -> impl Iterator<Item = &'static RefRule> {
    RULES.iter().filter(move |r| r.holders.contains(&holder))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_the_fields_of_the_spec_table() {
        let fields = |k| rules_for(k).map(|r| r.field).collect::<Vec<_>>();
        assert_eq!(
            fields(Component),
            [
                "owner",
                "system",
                "subcomponentOf",
                "providesApis",
                "consumesApis",
                "dependsOn",
                "dependencyOf"
            ]
        );
        assert_eq!(fields(Api), ["owner", "system"]);
        assert_eq!(
            fields(Resource),
            ["owner", "system", "dependsOn", "dependencyOf"]
        );
        assert_eq!(fields(System), ["owner", "domain"]);
        assert_eq!(fields(Domain), ["owner", "subdomainOf"]);
        assert_eq!(fields(Group), ["parent", "children", "members"]);
        assert_eq!(fields(User), ["memberOf"]);
    }

    #[test]
    fn default_and_allowed_kinds() {
        let d = |k, f| rule(k, f).unwrap().default_kind;
        assert_eq!(d(Component, "owner"), Some(Group));
        assert_eq!(d(System, "owner"), Some(Group));
        assert_eq!(d(Api, "system"), Some(System));
        assert_eq!(d(Component, "subcomponentOf"), Some(Component));
        assert_eq!(d(Component, "providesApis"), Some(Api));
        assert_eq!(d(Component, "consumesApis"), Some(Api));
        assert_eq!(d(Component, "dependsOn"), None);
        assert_eq!(d(Resource, "dependencyOf"), None);
        assert_eq!(d(System, "domain"), Some(Domain));
        assert_eq!(d(Domain, "subdomainOf"), Some(Domain));
        assert_eq!(d(Group, "parent"), Some(Group));
        assert_eq!(d(Group, "children"), Some(Group));
        assert_eq!(d(Group, "members"), Some(User));
        assert_eq!(d(User, "memberOf"), Some(Group));

        let owner = rule(Domain, "owner").unwrap();
        assert!(owner.allows("group") && owner.allows("User") && !owner.allows("system"));
        let dep = rule(Resource, "dependsOn").unwrap();
        assert!(dep.allows("component") && dep.allows("RESOURCE") && !dep.allows("api"));
        assert!(!dep.allows("template"));
        // A field's default kind is always one it allows.
        for r in RULES {
            if let Some(k) = r.default_kind {
                assert!(r.allowed.contains(&k), "{}", r.field);
            }
        }
    }

    #[test]
    fn relation_pairs_match_the_spec_table() {
        let pair = |k, f| {
            let r = rule(k, f).unwrap();
            (r.forward, r.reverse)
        };
        assert_eq!(pair(Api, "owner"), (OwnedBy, OwnerOf));
        assert_eq!(pair(Resource, "system"), (PartOf, HasPart));
        assert_eq!(pair(Component, "subcomponentOf"), (PartOf, HasPart));
        assert_eq!(
            pair(Component, "providesApis"),
            (ProvidesApi, ApiProvidedBy)
        );
        assert_eq!(
            pair(Component, "consumesApis"),
            (ConsumesApi, ApiConsumedBy)
        );
        assert_eq!(pair(Resource, "dependsOn"), (DependsOn, DependencyOf));
        assert_eq!(pair(Component, "dependencyOf"), (DependencyOf, DependsOn));
        assert_eq!(pair(System, "domain"), (PartOf, HasPart));
        assert_eq!(pair(Domain, "subdomainOf"), (PartOf, HasPart));
        assert_eq!(pair(Group, "parent"), (ChildOf, ParentOf));
        assert_eq!(pair(Group, "children"), (ParentOf, ChildOf));
        assert_eq!(pair(Group, "members"), (HasMember, MemberOf));
        assert_eq!(pair(User, "memberOf"), (MemberOf, HasMember));
    }

    #[test]
    fn hierarchies_are_same_kind_parent_chains() {
        let h = |k, f| rule(k, f).unwrap().hierarchy;
        assert_eq!(h(Group, "parent"), Hierarchy::TargetIsParent);
        assert_eq!(h(Group, "children"), Hierarchy::TargetIsChild);
        assert_eq!(h(Domain, "subdomainOf"), Hierarchy::TargetIsParent);
        assert_eq!(h(Component, "subcomponentOf"), Hierarchy::TargetIsParent);
        for r in RULES.iter().filter(|r| r.hierarchy != Hierarchy::None) {
            // A hierarchy links entities of one kind.
            assert_eq!(r.holders.len(), 1, "{}", r.field);
            assert_eq!(r.allowed, r.holders, "{}", r.field);
        }
        assert_eq!(
            RULES
                .iter()
                .filter(|r| r.hierarchy != Hierarchy::None)
                .count(),
            4
        );
    }

    #[test]
    fn fields_not_in_the_table_hold_no_references() {
        assert!(rule(User, "owner").is_none());
        assert!(rule(Group, "owner").is_none());
        assert!(rule(Api, "dependsOn").is_none());
        assert!(rule(System, "system").is_none());
        assert!(rule(Component, "definition").is_none());
    }
}
