//! The seven catalog kinds and the relation types between them.

use std::fmt;

/// A catalog kind. Backstage spells kinds in PascalCase; references compare them case-insensitively.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Component,
    System,
    Api,
    Resource,
    Domain,
    Group,
    User,
}

impl Kind {
    pub const ALL: [Kind; 7] = [
        Kind::Component,
        Kind::System,
        Kind::Api,
        Kind::Resource,
        Kind::Domain,
        Kind::Group,
        Kind::User,
    ];

    /// The kind as Backstage and Kubernetes spell it (`Component`, `API`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Kind::Component => "Component",
            Kind::System => "System",
            Kind::Api => "API",
            Kind::Resource => "Resource",
            Kind::Domain => "Domain",
            Kind::Group => "Group",
            Kind::User => "User",
        }
    }

    /// The lowercase form used in canonical entity references.
    pub fn lower(self) -> &'static str {
        match self {
            Kind::Component => "component",
            Kind::System => "system",
            Kind::Api => "api",
            Kind::Resource => "resource",
            Kind::Domain => "domain",
            Kind::Group => "group",
            Kind::User => "user",
        }
    }

    /// Looks a kind up by name, ignoring case.
    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL
            .into_iter()
            .find(|k| k.lower().eq_ignore_ascii_case(s))
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A relation type, named exactly as Backstage names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RelationType {
    ApiConsumedBy,
    ApiProvidedBy,
    ChildOf,
    ConsumesApi,
    DependencyOf,
    DependsOn,
    HasMember,
    HasPart,
    MemberOf,
    OwnedBy,
    OwnerOf,
    ParentOf,
    PartOf,
    ProvidesApi,
}

impl RelationType {
    pub const ALL: [RelationType; 14] = [
        RelationType::ApiConsumedBy,
        RelationType::ApiProvidedBy,
        RelationType::ChildOf,
        RelationType::ConsumesApi,
        RelationType::DependencyOf,
        RelationType::DependsOn,
        RelationType::HasMember,
        RelationType::HasPart,
        RelationType::MemberOf,
        RelationType::OwnedBy,
        RelationType::OwnerOf,
        RelationType::ParentOf,
        RelationType::PartOf,
        RelationType::ProvidesApi,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RelationType::ApiConsumedBy => "apiConsumedBy",
            RelationType::ApiProvidedBy => "apiProvidedBy",
            RelationType::ChildOf => "childOf",
            RelationType::ConsumesApi => "consumesApi",
            RelationType::DependencyOf => "dependencyOf",
            RelationType::DependsOn => "dependsOn",
            RelationType::HasMember => "hasMember",
            RelationType::HasPart => "hasPart",
            RelationType::MemberOf => "memberOf",
            RelationType::OwnedBy => "ownedBy",
            RelationType::OwnerOf => "ownerOf",
            RelationType::ParentOf => "parentOf",
            RelationType::PartOf => "partOf",
            RelationType::ProvidesApi => "providesApi",
        }
    }

    pub fn parse(s: &str) -> Option<RelationType> {
        RelationType::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

impl fmt::Display for RelationType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_parse_case_insensitively() {
        for k in Kind::ALL {
            assert_eq!(Kind::parse(k.name()), Some(k));
            assert_eq!(Kind::parse(k.lower()), Some(k));
            assert_eq!(Kind::parse(&k.name().to_uppercase()), Some(k));
        }
        assert_eq!(Kind::parse("Api"), Some(Kind::Api));
        assert_eq!(Kind::parse("Template"), None);
        assert_eq!(Kind::parse(""), None);
    }

    #[test]
    fn relation_types_are_sorted_by_name() {
        // Ord on the enum must agree with Ord on the names, because status sorts by type name.
        let mut by_name = RelationType::ALL;
        by_name.sort_by_key(|t| t.as_str());
        assert_eq!(by_name, RelationType::ALL);
        let mut by_ord = RelationType::ALL;
        by_ord.sort();
        assert_eq!(by_ord, RelationType::ALL);
        for t in RelationType::ALL {
            assert_eq!(RelationType::parse(t.as_str()), Some(t));
        }
    }
}
