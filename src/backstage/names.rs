//! How Backstage names become Kubernetes names, and the annotations that remember the way back.

use std::collections::BTreeMap;

use crate::api::validate::is_dns_subdomain;
use crate::model::split_ref;

/// The Backstage name of an entity whose Kubernetes name had to differ from it.
pub const NAME_ANNOTATION: &str = "catalog.playbill.dev/backstage-name";
/// The Backstage namespace of an entity that `--namespace`/`--map-namespace` moved.
pub const NAMESPACE_ANNOTATION: &str = "catalog.playbill.dev/backstage-namespace";
/// The references `import` rewrote: a JSON object from field path to
/// `[as written in Backstage, as written in Kubernetes]`, so export can restore the exact text
/// while the field still holds what import wrote.
pub const REFS_ANNOTATION: &str = "catalog.playbill.dev/backstage-refs";
/// Backstage metadata fields that Kubernetes metadata cannot hold (anything but name,
/// namespace, labels, annotations and the fields that move into spec), as a JSON object.
pub const METADATA_ANNOTATION: &str = "catalog.playbill.dev/backstage-metadata";

/// The annotations that belong to the bridge, not to the user.
pub const BRIDGE_ANNOTATIONS: [&str; 4] = [
    NAME_ANNOTATION,
    NAMESPACE_ANNOTATION,
    REFS_ANNOTATION,
    METADATA_ANNOTATION,
];

/// The metadata fields that live in `spec` on the Kubernetes side (docs/reference.md#backstage-metadata-in-spec).
pub const METADATA_IN_SPEC: [&str; 4] = ["title", "description", "tags", "links"];

/// Backstage's rule for entity names: 1–63 characters of letters, digits, `-`, `_` and `.`,
/// starting and ending with a letter or digit.
pub fn is_backstage_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || b"-_.".contains(c))
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
}

/// The Kubernetes name for a Backstage entity name: lowercase, `_` as `-`, and `.` as `-` too
/// when the dots would not make a valid DNS subdomain (`a..b`, `a_.b`).
///
/// It depends only on the lowercase name, so every spelling Backstage treats as the same entity
/// maps to the same Kubernetes name.
pub fn kube_name(backstage: &str) -> String {
    let name = backstage.to_ascii_lowercase().replace('_', "-");
    if is_dns_subdomain(&name) {
        name
    } else {
        name.replace('.', "-")
    }
}

/// Rewrites a reference as Backstage wrote it into one that names the same entity on the
/// Kubernetes side: the name normalised where [`kube_name`] changes more than its case, and an
/// explicit namespace moved through `namespaces`. `None` when the text can stay as it is.
pub fn import_ref(raw: &str, namespaces: &BTreeMap<String, String>) -> Option<String> {
    rewrite_ref(raw, namespaces, true)
}

/// Like [`import_ref`], but the name stays as written: for a reference that must keep dangling.
pub fn move_namespace(raw: &str, namespaces: &BTreeMap<String, String>) -> Option<String> {
    rewrite_ref(raw, namespaces, false)
}

fn rewrite_ref(
    raw: &str,
    namespaces: &BTreeMap<String, String>,
    normalise: bool,
) -> Option<String> {
    let parts = split_ref(raw).ok()?;
    let name = if normalise && is_backstage_name(parts.name) {
        let k = kube_name(parts.name);
        (k != parts.name.to_ascii_lowercase()).then_some(k)
    } else {
        None
    };
    let namespace = parts
        .namespace
        .and_then(|ns| namespaces.get(&ns.to_ascii_lowercase()).cloned());
    if name.is_none() && namespace.is_none() {
        return None;
    }
    let mut out = String::new();
    if let Some(kind) = parts.kind {
        out.push_str(kind);
        out.push(':');
    }
    if let Some(ns) = namespace.as_deref().or(parts.namespace) {
        out.push_str(ns);
        out.push('/');
    }
    out.push_str(name.as_deref().unwrap_or(parts.name));
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backstage_names() {
        for ok in ["a", "Petstore_Web", "billing.v2", "a-_.b", "A1"] {
            assert!(is_backstage_name(ok), "{ok}");
        }
        for bad in ["", "-a", "a-", "a b", "a/b", "a:b", &"x".repeat(64)] {
            assert!(!is_backstage_name(bad), "{bad}");
        }
    }

    #[test]
    fn kube_names_are_valid_and_depend_only_on_the_lowercase_name() {
        assert_eq!(kube_name("Petstore_Web"), "petstore-web");
        assert_eq!(kube_name("billing.v2"), "billing.v2");
        assert_eq!(kube_name("a_.b"), "a--b");
        assert_eq!(kube_name("a..b"), "a--b");
        assert_eq!(kube_name("Team_A"), kube_name("team_a"));
        // Every Backstage name over a small alphabet maps to a valid Kubernetes name.
        let alphabet = ['a', 'Z', '0', '-', '_', '.'];
        let mut frontier = vec![String::new()];
        for _ in 0..4 {
            let mut next = Vec::new();
            for s in &frontier {
                for c in alphabet {
                    let n = format!("{s}{c}");
                    if is_backstage_name(&n) {
                        assert!(is_dns_subdomain(&kube_name(&n)), "{n} -> {}", kube_name(&n));
                    }
                    next.push(n);
                }
            }
            frontier = next;
        }
    }

    #[test]
    fn references_are_rewritten_only_where_needed() {
        let none = BTreeMap::new();
        assert_eq!(import_ref("team-a", &none), None);
        assert_eq!(
            import_ref("Team-A", &none),
            None,
            "case alone matches anyway"
        );
        assert_eq!(import_ref("Team_A", &none).as_deref(), Some("team-a"));
        assert_eq!(
            import_ref("Group:ops/Team_A", &none).as_deref(),
            Some("Group:ops/team-a")
        );
        let mapped = BTreeMap::from([("default".to_owned(), "acme".to_owned())]);
        assert_eq!(
            import_ref("user:Default/jdoe", &mapped).as_deref(),
            Some("user:acme/jdoe")
        );
        assert_eq!(
            import_ref("jdoe", &mapped),
            None,
            "implicit namespaces follow the holder"
        );
        assert_eq!(
            import_ref("a:b:c_d", &none),
            None,
            "not a Backstage name: left alone"
        );
        assert_eq!(import_ref("", &none), None);
        assert_eq!(
            move_namespace("default/Team_A", &mapped).as_deref(),
            Some("acme/Team_A")
        );
        assert_eq!(move_namespace("Team_A", &mapped), None);
    }
}
