//! Entity references: `[kind:][namespace/]name`, parsed and canonicalised as docs/reference.md#entity-references says.

use std::fmt;

use super::kind::Kind;

/// A fully qualified, canonical (all lowercase) reference to an entity.
///
/// The kind is kept as a string because a reference may name a kind Playbill does not know
/// (`a:b:c` is kind `a`); whether that kind is allowed is the relation rules' business.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EntityRef {
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

impl EntityRef {
    /// The canonical reference of an entity itself.
    pub fn of(kind: Kind, namespace: &str, name: &str) -> EntityRef {
        EntityRef {
            kind: kind.lower().to_owned(),
            namespace: namespace.to_lowercase(),
            name: name.to_lowercase(),
        }
    }

    /// The known kind this reference names, if any.
    pub fn known_kind(&self) -> Option<Kind> {
        Kind::parse(&self.kind)
    }
}

impl fmt::Display for EntityRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}/{}", self.kind, self.namespace, self.name)
    }
}

/// Why a reference string does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RefError {
    #[error("reference is empty")]
    Empty,
    #[error("reference {0:?} has an empty kind before ':'")]
    EmptyKind(String),
    #[error("reference {0:?} has an empty namespace before '/'")]
    EmptyNamespace(String),
    #[error("reference {0:?} has an empty name")]
    EmptyName(String),
    #[error("reference {0:?} must name its kind (for example component:{0} or resource:{0})")]
    MissingKind(String),
    #[error("reference {0:?} starts or ends with a space")]
    SurroundingSpace(String),
    #[error("reference {0:?} contains a control character (a tab, a line break, ...)")]
    ControlCharacter(String),
}

/// The parts of a reference as written, before defaults are applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RefParts<'a> {
    pub kind: Option<&'a str>,
    pub namespace: Option<&'a str>,
    pub name: &'a str,
}

/// Splits `[kind:][namespace/]name` into its parts.
///
/// The kind ends at the first `:` unless a `/` comes before it; the namespace ends at the first
/// `/` after that. Whatever remains is the name, which may itself contain `:` and `/`.
pub fn split_ref(raw: &str) -> Result<RefParts<'_>, RefError> {
    if raw.is_empty() {
        return Err(RefError::Empty);
    }
    // Such a reference can never name an entity (names hold neither), and it would be reported as
    // "not found" with an invisible difference; admission refuses it for the same reason.
    if raw.chars().any(|c| c.is_ascii_control()) {
        return Err(RefError::ControlCharacter(raw.to_owned()));
    }
    if raw.starts_with(' ') || raw.ends_with(' ') {
        return Err(RefError::SurroundingSpace(raw.to_owned()));
    }
    let (kind, rest) = match (raw.find(':'), raw.find('/')) {
        (Some(colon), slash) if slash.is_none_or(|s| s > colon) => {
            (Some(&raw[..colon]), &raw[colon + 1..])
        }
        _ => (None, raw),
    };
    let (namespace, name) = match rest.split_once('/') {
        Some((ns, name)) => (Some(ns), name),
        None => (None, rest),
    };
    if kind == Some("") {
        return Err(RefError::EmptyKind(raw.to_owned()));
    }
    if namespace == Some("") {
        return Err(RefError::EmptyNamespace(raw.to_owned()));
    }
    if name.is_empty() {
        return Err(RefError::EmptyName(raw.to_owned()));
    }
    Ok(RefParts {
        kind,
        namespace,
        name,
    })
}

/// Parses a reference held by an entity in `holder_namespace`.
///
/// A missing kind takes `default_kind`; a field without a default kind requires one. A missing
/// namespace is the holder's own namespace. The result is lowercase, so two spellings of the same
/// entity compare equal.
pub fn parse_ref(
    raw: &str,
    default_kind: Option<Kind>,
    holder_namespace: &str,
) -> Result<EntityRef, RefError> {
    let parts = split_ref(raw)?;
    let kind = match (parts.kind, default_kind) {
        (Some(k), _) => k.to_lowercase(),
        (None, Some(d)) => d.lower().to_owned(),
        (None, None) => return Err(RefError::MissingKind(raw.to_owned())),
    };
    Ok(EntityRef {
        kind,
        namespace: parts.namespace.unwrap_or(holder_namespace).to_lowercase(),
        name: parts.name.to_lowercase(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(raw: &str) -> Result<String, RefError> {
        parse_ref(raw, Some(Kind::Group), "payments").map(|r| r.to_string())
    }

    #[test]
    fn spec_examples() {
        assert_eq!(owner("team-a").unwrap(), "group:payments/team-a");
        assert_eq!(owner("User:Jdoe").unwrap(), "user:payments/jdoe");
        assert_eq!(owner("default/team-a").unwrap(), "group:default/team-a");
        let abc = parse_ref("a:b:c", Some(Kind::Group), "ns").unwrap();
        assert_eq!((abc.kind.as_str(), abc.name.as_str()), ("a", "b:c"));
        let abc = parse_ref("a/b/c", Some(Kind::Group), "ns").unwrap();
        assert_eq!((abc.namespace.as_str(), abc.name.as_str()), ("a", "b/c"));
        assert_eq!(
            parse_ref("r", None, "ns"),
            Err(RefError::MissingKind("r".into()))
        );
    }

    #[test]
    fn spec_error_cases() {
        assert_eq!(owner(":x"), Err(RefError::EmptyKind(":x".into())));
        assert_eq!(owner("a:"), Err(RefError::EmptyName("a:".into())));
        assert_eq!(owner("a:/x"), Err(RefError::EmptyNamespace("a:/x".into())));
        assert_eq!(owner("/x"), Err(RefError::EmptyNamespace("/x".into())));
        assert_eq!(owner("x/"), Err(RefError::EmptyName("x/".into())));
        assert_eq!(owner(""), Err(RefError::Empty));
        assert_eq!(owner("a:b/"), Err(RefError::EmptyName("a:b/".into())));
        assert_eq!(owner(":"), Err(RefError::EmptyKind(":".into())));
        assert_eq!(owner("/"), Err(RefError::EmptyNamespace("/".into())));
    }

    #[test]
    fn full_refs_and_case_folding() {
        assert_eq!(owner("Group:Ops/Team-A").unwrap(), "group:ops/team-a");
        assert_eq!(owner("GROUP:team-a").unwrap(), "group:payments/team-a");
        assert_eq!(
            parse_ref("Component:Checkout", None, "Shop")
                .unwrap()
                .to_string(),
            "component:shop/checkout"
        );
        assert_eq!(owner("team-a"), owner("TEAM-A"));
    }

    #[test]
    fn slash_before_colon_means_no_kind() {
        // "x/y:z": the '/' comes first, so there is no kind; namespace x, name "y:z".
        let r = parse_ref("x/y:z", Some(Kind::Group), "ns").unwrap();
        assert_eq!(r.to_string(), "group:x/y:z");
        // "k:ns/a/b": kind k, namespace ns, name "a/b".
        let r = parse_ref("k:ns/a/b", Some(Kind::Group), "ns").unwrap();
        assert_eq!(r.to_string(), "k:ns/a/b");
        // "k:a:b/c": kind k, namespace "a:b", name c.
        let r = parse_ref("k:a:b/c", None, "ns").unwrap();
        assert_eq!(
            (r.kind.as_str(), r.namespace.as_str(), r.name.as_str()),
            ("k", "a:b", "c")
        );
    }

    #[test]
    fn namespace_defaults_to_holder_not_default() {
        let r = parse_ref("shop", Some(Kind::System), "payments").unwrap();
        assert_eq!(r.namespace, "payments");
        let r = parse_ref("shop", Some(Kind::System), "Payments").unwrap();
        assert_eq!(r.namespace, "payments");
    }

    #[test]
    fn explicit_kind_overrides_default_even_if_unknown() {
        let r = parse_ref("template:x", Some(Kind::Group), "ns").unwrap();
        assert_eq!(r.to_string(), "template:ns/x");
        assert_eq!(r.known_kind(), None);
        let r = parse_ref("resource:db", None, "ns").unwrap();
        assert_eq!(r.known_kind(), Some(Kind::Resource));
    }

    #[test]
    fn split_keeps_original_spelling() {
        assert_eq!(
            split_ref("User:Ns/Jdoe").unwrap(),
            RefParts {
                kind: Some("User"),
                namespace: Some("Ns"),
                name: "Jdoe"
            }
        );
        assert_eq!(
            split_ref("jdoe").unwrap(),
            RefParts {
                kind: None,
                namespace: None,
                name: "jdoe"
            }
        );
    }

    #[test]
    fn entity_ref_of_is_lowercase() {
        assert_eq!(
            EntityRef::of(Kind::Api, "Shop", "Orders").to_string(),
            "api:shop/orders"
        );
    }

    #[test]
    fn error_messages_quote_the_reference() {
        let msg = parse_ref("db", None, "ns").unwrap_err().to_string();
        assert!(
            msg.contains("\"db\"") && msg.contains("must name its kind"),
            "{msg}"
        );
    }
}
