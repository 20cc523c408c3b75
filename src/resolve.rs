//! `playbill resolve`: the operator's resolution, run offline over manifest files, so a catalog
//! can be checked in CI before it is applied.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::api::EntityStatus;
use crate::manifest::{Input, ManifestError};

/// Resolves every catalog object in `inputs` and returns each entity's status, keyed by its
/// canonical reference. Objects without a namespace go to `default_namespace`.
pub fn resolve(
    inputs: &[Input],
    default_namespace: &str,
    max_relations_per_type: usize,
    now: &Time,
) -> Result<BTreeMap<String, EntityStatus>, ManifestError> {
    let objects =
        crate::catalog::from_manifests(inputs, default_namespace, max_relations_per_type, now)?;
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
}
