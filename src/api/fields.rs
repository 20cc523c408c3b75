//! Field types shared by every catalog kind: the Backstage metadata that moves into `spec`,
//! reference strings with their admission rules, and profiles.

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

/// `[kind:][namespace/]name` with no empty part (docs/reference.md#grammar), no control
/// character and no space at either end, as an RE2 pattern for CEL and the schema. Without
/// lookahead, "no space at the end" is spelled out per shape: `kind:rest`, `name`, `namespace/name`.
const REF_PATTERN: &str = concat!(
    "^(?:",
    "[^:/ [:cntrl:]][^:/[:cntrl:]]*:(?:[^/[:cntrl:]]*[^/ [:cntrl:]]|[^/[:cntrl:]]+/[^[:cntrl:]]*[^ [:cntrl:]])",
    "|[^:/ [:cntrl:]](?:[^:/[:cntrl:]]*[^:/ [:cntrl:]])?",
    "|[^:/ [:cntrl:]][^:/[:cntrl:]]*/[^[:cntrl:]]*[^ [:cntrl:]]",
    ")$"
);
/// A reference that names its kind: the first `:` comes before any `/`.
const KINDED_PATTERN: &str = r"^[^:/]+:";
/// Backstage's tag format.
const TAG_PATTERN: &str = r"^[a-z0-9:+#]+(-[a-z0-9:+#]+)*$";
/// Long enough for any kind, namespace and object name; short enough to keep CEL cheap.
const REF_MAX_LEN: u32 = 512;

fn ref_rule() -> serde_json::Value {
    serde_json::json!({
        "rule": format!("self.matches('{REF_PATTERN}')"),
        "message": "must be an entity reference [kind:][namespace/]name with no empty kind, namespace or name, no space at either end and no control character",
    })
}

/// A string newtype whose schema (and so whose admission checks) is written out by hand.
macro_rules! checked_string {
    ($(#[$doc:meta])* $ty:ident, $name:literal, $schema:expr) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $ty(pub String);

        impl $ty {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl JsonSchema for $ty {
            fn schema_name() -> Cow<'static, str> {
                $name.into()
            }

            fn inline_schema() -> bool {
                true
            }

            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                $schema
            }
        }
    };
}

checked_string!(
    /// A reference to another entity. The kind and namespace may be left out: the field's default
    /// kind and the holder's own namespace fill them in.
    EntityRefString,
    "EntityRef",
    json_schema!({
        "type": "string",
        "minLength": 1,
        "maxLength": REF_MAX_LEN,
        "x-kubernetes-validations": [ref_rule()],
    })
);

checked_string!(
    /// A reference inside a list that may be long (members, children, APIs). It is checked with a
    /// schema pattern rather than CEL: CEL's cost budget does not allow a rule per item of an
    /// unbounded list.
    ListRefString,
    "ListEntityRef",
    json_schema!({
        "type": "string",
        "minLength": 1,
        "maxLength": REF_MAX_LEN,
        "pattern": REF_PATTERN,
    })
);

checked_string!(
    /// A reference whose kind must be written out, as `dependsOn` and `dependencyOf` require
    /// (`component:name`, `resource:namespace/name`).
    KindedRefString,
    "KindedEntityRef",
    // The shape is a schema pattern (CEL's cost budget allows no second regex rule per item of a
    // 1 000-entry list); the friendlier CEL message is kept for the common mistake, a missing kind.
    json_schema!({
        "type": "string",
        "minLength": 1,
        "maxLength": REF_MAX_LEN,
        "pattern": REF_PATTERN,
        "x-kubernetes-validations": [
            {
                "rule": format!("self.matches('{KINDED_PATTERN}')"),
                "message": "must name the target's kind, e.g. component:name or resource:namespace/name",
            },
        ],
    })
);

checked_string!(
    /// A tag: lowercase words of `a-z0-9:+#` joined by single hyphens, at most 63 characters.
    Tag,
    "Tag",
    json_schema!({
        "type": "string",
        "minLength": 1,
        "maxLength": 63,
        "x-kubernetes-validations": [{
            "rule": format!("self.matches('{TAG_PATTERN}')"),
            "message": "must be lowercase a-z, 0-9, ':', '+' or '#', in words joined by single '-' (e.g. java, python:3, c++)",
        }],
    })
);

/// A link shown with the entity, such as a dashboard or runbook.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Link {
    /// The URL the link points to.
    #[schemars(length(min = 1))]
    pub url: String,
    /// A human-readable name for the link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub title: Option<String>,
    /// The name of an icon to show beside the link, from Backstage's icon set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub icon: Option<String>,
    /// What kind of link this is (for example `runbook`, `dashboard`), for tools that group links.
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "type")]
    #[schemars(length(min = 1))]
    pub type_: Option<String>,
}

/// Fields every kind has. Backstage keeps them in `metadata`; Kubernetes metadata cannot hold
/// them, so they live in `spec` under the same names.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CommonFields {
    /// A display name for the entity, used instead of metadata.name where it reads better.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub title: Option<String>,
    /// A short human-readable description of the entity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub description: Option<String>,
    /// Tags for search and filtering: lowercase words of a-z, 0-9, ':', '+' and '#' joined by
    /// single hyphens, 1-63 characters each, at most 100 tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 100))]
    pub tags: Option<Vec<Tag>>,
    /// Links to external resources about the entity (dashboards, runbooks, docs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub links: Option<Vec<Link>>,
}

/// Profile information shown for a User or Group.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    /// The name to show, such as "Jane Doe" or "Payments Team".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub display_name: Option<String>,
    /// The email address to reach the user or group at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub email: Option<String>,
    /// The URL of a picture or avatar.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub picture: Option<String>,
}

/// Keys of `spec` that Playbill does not know. Backstage allows any extra keys in `spec`, so they
/// are kept as they are.
pub type ExtraFields = std::collections::BTreeMap<String, serde_json::Value>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::split_ref;

    /// Every string over a small alphabet up to length 5: the admission rule and the parser must
    /// agree on each.
    fn strings() -> Vec<String> {
        let alphabet = ['a', 'B', ':', '/', ' ', '\t'];
        let mut all = vec![String::new()];
        let mut frontier = vec![String::new()];
        for _ in 0..5 {
            let mut next = Vec::new();
            for s in &frontier {
                for c in alphabet {
                    next.push(format!("{s}{c}"));
                }
            }
            all.extend(next.iter().cloned());
            frontier = next;
        }
        all
    }

    #[test]
    fn admission_pattern_agrees_with_the_parser() {
        let re = regex::Regex::new(REF_PATTERN).unwrap();
        let kinded = regex::Regex::new(KINDED_PATTERN).unwrap();
        for s in strings() {
            let parsed = split_ref(&s);
            assert_eq!(re.is_match(&s), parsed.is_ok(), "{s:?}: {parsed:?}");
            if let Ok(parts) = parsed {
                assert_eq!(kinded.is_match(&s), parts.kind.is_some(), "{s:?}");
            }
        }
    }

    #[test]
    fn tag_pattern() {
        let re = regex::Regex::new(TAG_PATTERN).unwrap();
        for ok in ["java", "go:1-22", "c++", "c#", "a-b-c", "k8s"] {
            assert!(re.is_match(ok), "{ok}");
        }
        for bad in ["", "Java", "a--b", "-a", "a-", "a_b", "a b", "a.b"] {
            assert!(!re.is_match(bad), "{bad}");
        }
    }
}
