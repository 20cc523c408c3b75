//! Reading the catalog from the cluster, for the commands and the HTTP export that show it. Only
//! LIST calls live here; turning what they return into [`CatalogObject`]s is the catalog
//! module's job.

use kube::api::{Api, DynamicObject, ListParams};

use crate::api::api_resource;
use crate::catalog::{CatalogObject, sort};
use crate::model::Kind;

/// Lists every catalog object in the cluster (in `namespace`, or in all namespaces), sorted by
/// kind, namespace and name.
pub async fn fetch(
    client: &kube::Client,
    namespace: Option<&str>,
) -> Result<Vec<CatalogObject>, kube::Error> {
    let mut out = Vec::new();
    for kind in Kind::ALL {
        let resource = api_resource(kind);
        let api: Api<DynamicObject> = match namespace {
            Some(ns) => Api::namespaced_with(client.clone(), ns, &resource),
            None => Api::all_with(client.clone(), &resource),
        };
        let mut params = ListParams::default().limit(500);
        loop {
            let page = api.list(&params).await?;
            for mut obj in page.items {
                obj.types = Some(kube::api::TypeMeta {
                    api_version: resource.api_version.clone(),
                    kind: resource.kind.clone(),
                });
                let value = serde_json::to_value(&obj).unwrap_or_default();
                out.extend(CatalogObject::from_value(value, ""));
            }
            match page.metadata.continue_ {
                Some(token) if !token.is_empty() => params = params.continue_token(&token),
                _ => break,
            }
        }
    }
    sort(&mut out);
    Ok(out)
}

/// How much of the catalog a command could read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Coverage {
    /// Every namespace.
    All,
    /// Only this namespace: RBAC forbids listing the others.
    Namespace(String),
}

/// The whole catalog, because relations cross namespaces; only if RBAC forbids listing every
/// namespace, the `fallback` namespace alone (when there is one), and says which it was.
pub async fn fetch_covering(
    client: &kube::Client,
    fallback: Option<&str>,
) -> Result<(Vec<CatalogObject>, Coverage), kube::Error> {
    match fetch(client, None).await {
        Ok(objects) => Ok((objects, Coverage::All)),
        Err(kube::Error::Api(e)) if e.code == 403 && fallback.is_some() => {
            let ns = fallback.unwrap_or_default();
            let objects = fetch(client, Some(ns)).await?;
            Ok((objects, Coverage::Namespace(ns.to_owned())))
        }
        Err(e) => Err(e),
    }
}
