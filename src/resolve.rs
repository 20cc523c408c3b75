//! `playbill resolve`: the operator's resolution, run offline over manifest files, so a catalog
//! can be checked in CI before it is applied.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::api::EntityStatus;
use crate::consent::CrossNamespaceRefs;
use crate::manifest::{Input, ManifestError};

/// Resolves every catalog object in `inputs` and returns each entity's status, keyed by its
/// canonical reference. Objects without a namespace go to `default_namespace`.
pub fn resolve(
    inputs: &[Input],
    default_namespace: &str,
    max_relations_per_type: usize,
    now: &Time,
) -> Result<BTreeMap<String, EntityStatus>, ManifestError> {
    resolve_with(
        inputs,
        default_namespace,
        max_relations_per_type,
        CrossNamespaceRefs::Allow,
        now,
    )
}

/// [`resolve`] with references across namespaces treated as `mode` says, under the
/// `CatalogGrant`s and `Namespace` labels among the manifests.
pub fn resolve_with(
    inputs: &[Input],
    default_namespace: &str,
    max_relations_per_type: usize,
    mode: CrossNamespaceRefs,
    now: &Time,
) -> Result<BTreeMap<String, EntityStatus>, ManifestError> {
    let (objects, _) = crate::catalog::from_manifests_with(
        inputs,
        default_namespace,
        max_relations_per_type,
        mode,
        now,
    )?;
    Ok(objects
        .into_iter()
        .filter_map(|o| Some((o.entity_ref().to_string(), o.status?)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_a_small_catalog_from_text() {
        let text = r#"
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: catalog.playbill.dev/v1alpha1
kind: Component
metadata: {name: web, namespace: shop}
spec: {type: website, lifecycle: production, owner: team-a, dependsOn: ["component:api"]}
---
apiVersion: catalog.playbill.dev/v1alpha1
kind: Group
metadata: {name: team-a}
spec: {type: team, children: []}
"#;
        let now = Time(Default::default());
        let out = resolve(&[("t.yaml".into(), text.into())], "shop", 1000, &now).unwrap();
        assert_eq!(
            out.keys().collect::<Vec<_>>(),
            ["component:shop/web", "group:shop/team-a"]
        );
        let web = &out["component:shop/web"];
        assert_eq!(web.conditions[0].reason, "UnresolvedReferences");
        assert_eq!(web.unresolved_refs[0].target_ref, "component:shop/api");
        assert_eq!(
            out["group:shop/team-a"].relations[0].target_ref,
            "component:shop/web"
        );
    }

    #[test]
    fn a_document_that_does_not_fit_the_schema_names_file_index_and_field() {
        let text = "apiVersion: catalog.playbill.dev/v1alpha1\nkind: Component\nmetadata: {name: x}\nspec: {type: service, lifecycle: production}\n";
        let err = resolve(
            &[("bad.yaml".into(), text.into())],
            "d",
            1000,
            &Time(Default::default()),
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with("bad.yaml: document 1:") && msg.contains("owner"),
            "{msg}"
        );
    }

    #[test]
    fn consent_mode_refuses_references_without_a_grant_in_the_manifests() {
        let catalog = "apiVersion: catalog.playbill.dev/v1alpha1\nkind: Component\nmetadata: {name: web, namespace: shop}\nspec: {type: website, lifecycle: production, owner: org/team}\n---\napiVersion: catalog.playbill.dev/v1alpha1\nkind: Group\nmetadata: {name: team, namespace: org}\nspec: {type: team, children: []}\n";
        let grant = "---\napiVersion: catalog.playbill.dev/v1alpha1\nkind: CatalogGrant\nmetadata: {name: owners, namespace: org}\nspec: {from: {namespaces: [shop]}, to: {kinds: [Group], relations: [ownedBy]}}\n";
        let now = Time(Default::default());
        let run = |text: String, mode| {
            resolve_with(&[("t.yaml".into(), text)], "d", 1000, mode, &now).unwrap()
        };
        let refused = run(catalog.into(), CrossNamespaceRefs::Consent);
        let web = &refused["component:shop/web"];
        assert_eq!(web.conditions[0].status, "False");
        assert_eq!(web.unresolved_refs[0].reason, "RefNotPermitted");
        assert!(web.relations.is_empty());
        assert!(refused["group:org/team"].relations.is_empty());
        let granted = run(format!("{catalog}{grant}"), CrossNamespaceRefs::Consent);
        assert_eq!(granted["component:shop/web"].conditions[0].status, "True");
        assert_eq!(
            granted["group:org/team"].relations[0].target_ref,
            "component:shop/web"
        );
        // allow mode is the same with or without the grant.
        assert_eq!(
            run(catalog.into(), CrossNamespaceRefs::Allow),
            run(format!("{catalog}{grant}"), CrossNamespaceRefs::Allow)
        );
        assert_eq!(run(catalog.into(), CrossNamespaceRefs::Allow), granted);
    }

    #[test]
    fn the_example_grants_make_consent_mode_resolve_the_example_catalog_as_allow_does() {
        let root = env!("CARGO_MANIFEST_DIR");
        let catalog = format!("{root}/examples/catalog");
        let grants = format!("{root}/examples/consent");
        let now = Time(Default::default());
        let read = |paths: &[String]| crate::manifest::read_inputs(paths).unwrap();
        let allow = resolve(&read(std::slice::from_ref(&catalog)), "default", 1000, &now).unwrap();
        let consent = |paths: &[String]| {
            resolve_with(
                &read(paths),
                "default",
                1000,
                CrossNamespaceRefs::Consent,
                &now,
            )
            .unwrap()
        };
        assert_eq!(consent(&[catalog.clone(), grants]), allow);
        let refused = consent(&[catalog]);
        assert!(refused.values().any(|s| {
            s.unresolved_refs
                .iter()
                .any(|u| u.reason == "RefNotPermitted")
        }));
    }
}
