//! Keys in an entity's `spec` that no field of its kind has.
//!
//! Backstage keeps any extra key in `spec`, so Playbill does too; but a misspelled field
//! (`sytem: shop`) is kept just as silently, and the relation it meant is simply missing. This
//! module finds such keys and the known field each most likely meant, so the admission warning,
//! the entity's status and `playbill validate` can all say the same thing.
//!
//! A key is meant on purpose, and not reported, when it starts with [`CUSTOM_PREFIX`] or is
//! listed in the [`CUSTOM_KEYS_ANNOTATION`] annotation.
//!
//! The suggestion rule is deliberately one that CEL can evaluate too (the admission policy in
//! the chart repeats it): the known field equal to the key ignoring ASCII case, or else the first
//! known field (in the order given) one edit away from it ignoring case, where an edit is a
//! character inserted, deleted or replaced, or two adjacent characters swapped.

use super::kind::Kind;

/// Keys that start with this are custom keys, kept and never reported.
pub const CUSTOM_PREFIX: &str = "x-";

/// An annotation listing, comma-separated, the custom keys an entity uses on purpose.
pub const CUSTOM_KEYS_ANNOTATION: &str = "catalog.playbill.dev/custom-keys";

/// The most edits a suggestion may be away from the key it is for.
pub const MAX_SUGGESTION_DISTANCE: usize = 1;

/// A key in `spec` that the kind has no field for.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct UnknownKey {
    /// The key as written.
    pub key: String,
    /// The known field it most likely meant.
    pub suggestion: Option<String>,
}

impl UnknownKey {
    /// The path users see: `spec.sytem`.
    pub fn field(&self) -> String {
        format!("spec.{}", self.key)
    }

    /// `spec.sytem is not a field of Component; did you mean spec.system?`
    pub fn message(&self, kind: Kind) -> String {
        match &self.suggestion {
            Some(s) => format!(
                "{} is not a field of {}; did you mean spec.{s}?",
                self.field(),
                kind.name()
            ),
            None => format!("{} is not a field of {}", self.field(), kind.name()),
        }
    }
}

/// The custom keys listed in a [`CUSTOM_KEYS_ANNOTATION`] value: comma-separated, spaces around
/// each ignored, empty entries dropped.
pub fn custom_keys(annotation: Option<&str>) -> Vec<&str> {
    annotation
        .into_iter()
        .flat_map(|a| a.split(','))
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .collect()
}

/// The keys of `keys` that are not in `known` and not custom (prefixed with [`CUSTOM_PREFIX`] or
/// in `custom`), each with its suggestion, in the order given.
pub fn unknown_keys<'a>(
    keys: impl IntoIterator<Item = &'a str>,
    known: &[&str],
    custom: &[&str],
) -> Vec<UnknownKey> {
    keys.into_iter()
        .filter(|k| !known.contains(k) && !k.starts_with(CUSTOM_PREFIX) && !custom.contains(k))
        .map(|k| UnknownKey {
            key: k.to_owned(),
            suggestion: suggest(k, known).map(str::to_owned),
        })
        .collect()
}

/// The known field `key` most likely meant: the nearest by [`edit_distance`] ignoring ASCII case,
/// at most [`MAX_SUGGESTION_DISTANCE`] away, the first in `known`'s order among equals.
pub fn suggest<'k>(key: &str, known: &[&'k str]) -> Option<&'k str> {
    let key = key.to_ascii_lowercase();
    known
        .iter()
        .map(|k| (edit_distance(&key, &k.to_ascii_lowercase()), *k))
        .filter(|(d, _)| *d <= MAX_SUGGESTION_DISTANCE)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// The optimal string alignment distance (Damerau-Levenshtein without repeated edits of one
/// substring) between `a` and `b`, in characters: how many insertions, deletions, replacements
/// and swaps of two adjacent characters turn one into the other.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // Three rows of the dynamic-programming table: two back (for swaps), one back, current.
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current: Vec<usize> = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        current[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            current[j] = (previous[j] + 1)
                .min(current[j - 1] + 1)
                .min(previous[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                current[j] = current[j].min(before[j - 2] + 1);
            }
        }
        std::mem::swap(&mut before, &mut previous);
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMPONENT: &[&str] = &[
        "consumesApis",
        "dependencyOf",
        "dependsOn",
        "description",
        "lifecycle",
        "links",
        "owner",
        "providesApis",
        "subcomponentOf",
        "system",
        "tags",
        "title",
        "type",
    ];

    #[test]
    fn distance_counts_insertions_deletions_replacements_and_swaps() {
        for (a, b, d) in [
            ("", "", 0),
            ("", "abc", 3),
            ("abc", "", 3),
            ("system", "system", 0),
            ("sytem", "system", 1),
            ("systems", "system", 1),
            ("sistem", "system", 1),
            ("sytsem", "system", 1),
            ("owenr", "owner", 1),
            ("ca", "abc", 3),
            ("kitten", "sitting", 3),
            ("lifecyle", "lifecycle", 1),
            ("ünï", "üni", 1),
        ] {
            assert_eq!(edit_distance(a, b), d, "{a} -> {b}");
            assert_eq!(edit_distance(b, a), d, "{b} -> {a}");
        }
    }

    #[test]
    fn suggestions_are_one_edit_away_ignoring_case() {
        for (key, want) in [
            ("sytem", Some("system")),
            ("Owner", Some("owner")),
            ("dependson", Some("dependsOn")),
            ("owenr", Some("owner")),
            ("providesApi", Some("providesApis")),
            ("tag", Some("tags")),
            ("lifecyle", Some("lifecycle")),
            ("lifecyc", None),
            ("costCenter", None),
            ("", None),
        ] {
            assert_eq!(suggest(key, COMPONENT), want, "{key}");
        }
        // Two fields one edit away: the first in the given order wins.
        assert_eq!(suggest("tyle", COMPONENT), Some("type"));
        assert_eq!(suggest("ab", &["abc", "xb"]), Some("abc"));
        assert_eq!(suggest("ab", &["xb", "abc"]), Some("xb"));
        // A case-only difference beats a one-edit one wherever it stands.
        assert_eq!(suggest("Tags", &["tag", "tags"]), Some("tags"));
    }

    #[test]
    fn unknown_keys_skip_known_prefixed_and_listed_keys() {
        let keys = [
            "type",
            "sytem",
            "x-team-slack",
            "costCenter",
            "runbook",
            "X-upper",
        ];
        let got = unknown_keys(keys, COMPONENT, &custom_keys(Some(" runbook, ,other ")));
        assert_eq!(
            got,
            [
                UnknownKey {
                    key: "sytem".into(),
                    suggestion: Some("system".into())
                },
                UnknownKey {
                    key: "costCenter".into(),
                    suggestion: None
                },
                // The prefix is lowercase x- exactly, as in the admission policy.
                UnknownKey {
                    key: "X-upper".into(),
                    suggestion: None
                },
            ]
        );
        assert_eq!(
            got[0].message(Kind::Component),
            "spec.sytem is not a field of Component; did you mean spec.system?"
        );
        assert_eq!(
            got[1].message(Kind::Api),
            "spec.costCenter is not a field of API"
        );
        assert!(unknown_keys(["type", "owner"], COMPONENT, &[]).is_empty());
    }

    #[test]
    fn custom_keys_annotation_is_a_comma_separated_list() {
        assert_eq!(custom_keys(None), Vec::<&str>::new());
        assert_eq!(custom_keys(Some("")), Vec::<&str>::new());
        assert_eq!(custom_keys(Some("a,b , c,,")), ["a", "b", "c"]);
    }
}
