//! The `--cross-namespace-refs` setting, and reading the grants and namespace labels it needs
//! from manifests or from the cluster, for the commands that resolve relations outside the
//! operator (`resolve`, `export`, `graph`).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, ListParams};
use serde_json::Value;

use crate::api::{CatalogGrant, GROUP, VERSION};
use crate::consent::{Consents, CrossNamespaceRefs};

/// Every namespace carries this label with its own name (Kubernetes sets it).
pub const NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// How references across namespaces are treated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum CrossNamespaceRefsArg {
    /// Every reference counts, wherever its target lives (Backstage's behaviour).
    #[default]
    Allow,
    /// A reference into another namespace counts only if a CatalogGrant there permits it.
    Consent,
}

impl From<CrossNamespaceRefsArg> for CrossNamespaceRefs {
    fn from(a: CrossNamespaceRefsArg) -> CrossNamespaceRefs {
        match a {
            CrossNamespaceRefsArg::Allow => CrossNamespaceRefs::Allow,
            CrossNamespaceRefsArg::Consent => CrossNamespaceRefs::Consent,
        }
    }
}

/// Why a CatalogGrant in a manifest cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("CatalogGrant {namespace}/{name}: {error}")]
pub struct GrantError {
    pub namespace: String,
    pub name: String,
    pub error: String,
}

/// Gives every namespace in `namespaces` its `kubernetes.io/metadata.name` label, as the API
/// server does; a `Namespace` manifest read afterwards adds its own labels.
pub fn name_labels<'a>(consents: &mut Consents, namespaces: impl IntoIterator<Item = &'a str>) {
    for ns in namespaces {
        consents.set_namespace(ns, BTreeMap::from([(NAME_LABEL.to_owned(), ns.to_owned())]));
    }
}

/// Records what one manifest document says about consent: a `Namespace`'s labels, or a
/// `CatalogGrant` (in `default_namespace` when it names none). Other documents say nothing.
pub fn add_manifest(
    consents: &mut Consents,
    value: &Value,
    default_namespace: &str,
) -> Result<(), GrantError> {
    let kind = value.get("kind").and_then(Value::as_str);
    let api_version = value.get("apiVersion").and_then(Value::as_str);
    let meta = |k: &str| {
        value
            .pointer(&format!("/metadata/{k}"))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    match (api_version, kind) {
        (Some("v1"), Some("Namespace")) => {
            if let Some(name) = meta("name") {
                let mut labels: BTreeMap<String, String> = value
                    .pointer("/metadata/labels")
                    .and_then(|l| serde_json::from_value(l.clone()).ok())
                    .unwrap_or_default();
                labels.insert(NAME_LABEL.to_owned(), name.clone());
                consents.set_namespace(&name, labels);
            }
        }
        (Some(v), Some("CatalogGrant")) if v == format!("{GROUP}/{VERSION}") => {
            let namespace = meta("namespace").unwrap_or_else(|| default_namespace.to_owned());
            let name = meta("name").unwrap_or_default();
            let grant: CatalogGrant =
                serde_json::from_value(value.clone()).map_err(|e| GrantError {
                    namespace: namespace.clone(),
                    name: name.clone(),
                    error: e.to_string(),
                })?;
            consents.set_grant(&namespace, &name, grant.spec.grant());
        }
        _ => {}
    }
    Ok(())
}

/// The grants and namespace labels in the cluster. Labels are read only when some grant selects
/// namespaces by label; a caller not allowed to list namespaces gets just their names (from
/// `namespaces`) as labels.
pub async fn fetch_consents(
    client: &kube::Client,
    mode: CrossNamespaceRefs,
    namespaces: impl IntoIterator<Item = &str>,
) -> Result<Consents, kube::Error> {
    let mut consents = Consents::new(mode);
    if mode == CrossNamespaceRefs::Allow {
        return Ok(consents);
    }
    name_labels(&mut consents, namespaces);
    let grants: Api<CatalogGrant> = Api::all(client.clone());
    for g in grants.list(&ListParams::default()).await? {
        let ns = g.metadata.namespace.clone().unwrap_or_default();
        let name = g.metadata.name.clone().unwrap_or_default();
        consents.set_grant(&ns, &name, g.spec.grant());
    }
    if consents.selects_by_label() {
        let api: Api<Namespace> = Api::all(client.clone());
        match api.list_metadata(&ListParams::default()).await {
            Ok(list) => {
                for n in list {
                    let name = n.metadata.name.clone().unwrap_or_default();
                    consents.set_namespace(&name, n.metadata.labels.unwrap_or_default());
                }
            }
            Err(kube::Error::Api(e)) if e.code == 403 => {}
            Err(e) => return Err(e),
        }
    }
    Ok(consents)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{EntityRef, Kind, RelationType};

    #[test]
    fn grants_and_namespace_labels_from_manifests() {
        let docs: Vec<Value> = serde_json::from_str(
            r#"[
              {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop", "labels": {"tenant": "acme"}}},
              {"apiVersion": "catalog.playbill.dev/v1alpha1", "kind": "CatalogGrant",
               "metadata": {"name": "acme", "namespace": "teams"},
               "spec": {"from": {"namespaceSelector": {"matchLabels": {"tenant": "acme"}}}, "to": {"kinds": ["Group"]}}},
              {"apiVersion": "catalog.playbill.dev/v1alpha1", "kind": "CatalogGrant",
               "metadata": {"name": "by-name"},
               "spec": {"from": {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "payments"}}}}}
            ]"#,
        )
        .unwrap();
        let mut c = Consents::new(CrossNamespaceRefs::Consent);
        name_labels(&mut c, ["payments", "shop"]);
        for d in &docs {
            add_manifest(&mut c, d, "org").unwrap();
        }
        let team = EntityRef::of(Kind::Group, "teams", "sre");
        assert!(c.permits("shop", RelationType::OwnedBy, &team));
        assert!(!c.permits("payments", RelationType::OwnedBy, &team));
        assert!(!c.permits(
            "shop",
            RelationType::PartOf,
            &EntityRef::of(Kind::System, "teams", "s")
        ));
        // A grant without a namespace is in the default one; the name label is always there.
        let org = EntityRef::of(Kind::Group, "org", "eng");
        assert!(c.permits("payments", RelationType::OwnedBy, &org));
        assert!(!c.permits("shop", RelationType::OwnedBy, &org));

        let bad: Vec<Value> = serde_json::from_str(
            r#"[{"apiVersion": "catalog.playbill.dev/v1alpha1", "kind": "CatalogGrant",
                 "metadata": {"name": "x", "namespace": "y"}, "spec": {"from": {"all": "yes"}}}]"#,
        )
        .unwrap();
        let mut c = Consents::new(CrossNamespaceRefs::Consent);
        let e = add_manifest(&mut c, &bad[0], "d").unwrap_err();
        assert!(e.to_string().starts_with("CatalogGrant y/x: "), "{e}");
    }
}
