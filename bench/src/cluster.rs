//! The bench's client side of the cluster: the CRDs, loading and deleting a copy of the catalog,
//! and the spec changes of the change trials.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams,
};
use kube::config::{KubeConfigOptions, Kubeconfig};
use playbill::api::api_resource;
use playbill::controller::FIELD_MANAGER;
use playbill::model::Kind;
use serde_json::{Value, json};

use crate::Res;
use crate::catalog::{NAMESPACES, Obj, is_ns};

pub struct Cluster {
    pub client: kube::Client,
    pub resources: HashMap<Kind, ApiResource>,
}

impl Cluster {
    pub async fn connect(kubeconfig: &Path) -> Res<Cluster> {
        let config = kube::Config::from_custom_kubeconfig(
            Kubeconfig::read_from(kubeconfig)?,
            &KubeConfigOptions::default(),
        )
        .await?;
        let client = kube::Client::try_from(config)?;
        let resources = Kind::ALL.map(|k| (k, api_resource(k))).into();
        Ok(Cluster { client, resources })
    }

    pub fn api(&self, kind: Kind, ns: &str) -> Api<DynamicObject> {
        Api::namespaced_with(self.client.clone(), ns, &self.resources[&kind])
    }

    pub fn api_all(&self, kind: Kind) -> Api<DynamicObject> {
        Api::all_with(self.client.clone(), &self.resources[&kind])
    }

    /// Installs (or updates) the catalog CRDs and waits until every one is Established, so the
    /// bench runs on a cluster that has never seen Playbill.
    pub async fn install_crds(&self) -> Res<()> {
        let crds: Api<CustomResourceDefinition> = Api::all(self.client.clone());
        let params = PatchParams::apply("playbill-bench").force();
        for crd in playbill::api::all_crds() {
            let name = crd.metadata.name.clone().unwrap_or_default();
            crds.patch(&name, &params, &Patch::Apply(&crd)).await?;
        }
        let t = Instant::now();
        for crd in playbill::api::all_crds() {
            let name = crd.metadata.name.unwrap_or_default();
            loop {
                let established = crds.get(&name).await?.status.is_some_and(|s| {
                    s.conditions
                        .unwrap_or_default()
                        .iter()
                        .any(|c| c.type_ == "Established" && c.status == "True")
                });
                if established {
                    break;
                }
                if t.elapsed() > Duration::from_secs(60) {
                    return Err(format!("CRD {name} not Established after 60 s").into());
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        Ok(())
    }

    /// The namespaces of one copy of the catalog, `<prefix>0..3`, that exist.
    async fn namespaces(&self, prefix: &str) -> Res<Vec<String>> {
        let nss: Api<Namespace> = Api::all(self.client.clone());
        Ok(nss
            .list(&ListParams::default())
            .await?
            .items
            .into_iter()
            .filter_map(|n| n.metadata.name)
            .filter(|n| is_ns(n, prefix))
            .collect())
    }

    pub async fn delete_namespaces(&self, prefix: &str, wait: Duration) -> Res<()> {
        let nss: Api<Namespace> = Api::all(self.client.clone());
        for n in &self.namespaces(prefix).await? {
            // Deleting the objects first keeps the namespace controller's work short.
            for kind in Kind::ALL {
                let _ = self
                    .api(kind, n)
                    .delete_collection(&DeleteParams::default(), &ListParams::default())
                    .await;
            }
            let _ = nss.delete(n, &DeleteParams::default()).await;
        }
        let deadline = Instant::now() + wait;
        loop {
            let left = self.namespaces(prefix).await?.len();
            if left == 0 {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("{left} namespaces {prefix}* still terminating").into());
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    pub async fn load(&self, objs: &[Obj], prefix: &str, concurrency: usize) -> Res<()> {
        let nss: Api<Namespace> = Api::all(self.client.clone());
        for j in 0..NAMESPACES {
            let ns: Namespace =
                serde_json::from_value(json!({"metadata": {"name": format!("{prefix}{j}")}}))?;
            nss.create(&PostParams::default(), &ns).await?;
        }
        futures::stream::iter(objs)
            .map(|o| self.create(o))
            .buffer_unordered(concurrency)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(())
    }

    /// One CatalogGrant in each namespace of a copy, letting the other three refer in to
    /// anything: under `--cross-namespace-refs=consent` the statuses are then the same as in
    /// `allow`, and what the bench measures is the cost of the consent checks.
    pub async fn grant_all(&self, prefix: &str) -> Res<()> {
        let resource = ApiResource::erase::<playbill::api::CatalogGrant>(&());
        for j in 0..NAMESPACES {
            let ns = format!("{prefix}{j}");
            let from: Vec<String> = (0..NAMESPACES)
                .filter(|&i| i != j)
                .map(|i| format!("{prefix}{i}"))
                .collect();
            let grant: DynamicObject = serde_json::from_value(json!({
                "apiVersion": "catalog.playbill.dev/v1alpha1",
                "kind": "CatalogGrant",
                "metadata": {"name": "bench", "namespace": ns},
                "spec": {"from": {"namespaces": from}},
            }))?;
            Api::<DynamicObject>::namespaced_with(self.client.clone(), &ns, &resource)
                .create(&PostParams::default(), &grant)
                .await?;
        }
        Ok(())
    }

    /// Applies each status patch as the operator does (its field manager, `force`), with
    /// `concurrency` in flight.
    pub async fn apply_statuses(&self, patches: &[(&Obj, Value)], concurrency: usize) -> Res<()> {
        futures::stream::iter(patches)
            .map(|(o, patch)| async move {
                self.api(o.kind, &o.ns)
                    .patch_status(
                        &o.name,
                        &PatchParams::apply(FIELD_MANAGER).force(),
                        &Patch::Apply(patch),
                    )
                    .await?;
                Res::Ok(())
            })
            .buffer_unordered(concurrency)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(())
    }

    /// Creates `o` (the API server assigns its generation).
    pub async fn create(&self, o: &Obj) -> Res<()> {
        let obj: DynamicObject = serde_json::from_value(o.manifest_to_create())?;
        self.api(o.kind, &o.ns)
            .create(&PostParams::default(), &obj)
            .await?;
        Ok(())
    }

    pub async fn delete(&self, o: &Obj) -> Res<()> {
        self.api(o.kind, &o.ns)
            .delete(&o.name, &DeleteParams::default())
            .await?;
        Ok(())
    }

    /// Merges `spec` into `o`'s spec; returns the object's new generation.
    pub async fn merge_spec(&self, o: &Obj, spec: Value) -> Res<i64> {
        let obj = self
            .api(o.kind, &o.ns)
            .patch(
                &o.name,
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": spec})),
            )
            .await?;
        Ok(obj.metadata.generation.unwrap_or(0))
    }

    /// How many catalog objects live outside the namespaces of `prefixes` (the operator sees
    /// them too).
    pub async fn count_foreign(&self, prefixes: &[&str]) -> Res<usize> {
        let mut c = 0;
        for kind in Kind::ALL {
            c += self
                .api_all(kind)
                .list(&ListParams::default())
                .await?
                .items
                .iter()
                .filter(|o| {
                    let ns = o.metadata.namespace.as_deref().unwrap_or("");
                    !prefixes.iter().any(|p| is_ns(ns, p))
                })
                .count();
        }
        Ok(c)
    }
}
