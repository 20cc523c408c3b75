//! The mapping's data as one JSON table, for the Backstage entity provider
//! (`backstage/plugin-catalog-backend-module-playbill`): which fields hold references and what
//! kind each defaults to, the annotations that carry Backstage names, what export drops and what
//! moves between `spec` and `metadata`. `make backstage-mapping` writes it into the package and CI
//! checks that the committed copy is current, so the provider never maps with stale rules.

use serde_json::{Value, json};

use super::export::{METADATA_FIELDS, TOOL_ANNOTATIONS};
use super::names::{
    BRIDGE_ANNOTATIONS, METADATA_ANNOTATION, METADATA_IN_SPEC, NAME_ANNOTATION,
    NAMESPACE_ANNOTATION, REFS_ANNOTATION,
};
use crate::api::{GROUP, VERSION, api_resource};
use crate::model::{Kind, rules_for};

/// The table `playbill backstage-mapping` prints.
pub fn table() -> Value {
    let kinds: Vec<Value> = Kind::ALL
        .into_iter()
        .map(|kind| {
            let fields: Vec<Value> = rules_for(kind)
                .map(|r| {
                    json!({
                        "field": r.field,
                        "list": r.list,
                        "defaultKind": r.default_kind.map(Kind::lower),
                    })
                })
                .collect();
            json!({
                "kind": kind.name(),
                "plural": api_resource(kind).plural,
                "refFields": fields,
            })
        })
        .collect();
    json!({
        "generatedBy": "playbill backstage-mapping (make backstage-mapping); do not edit",
        "group": GROUP,
        "version": VERSION,
        "backstageApiVersion": "backstage.io/v1alpha1",
        "kinds": kinds,
        "annotations": {
            "name": NAME_ANNOTATION,
            "namespace": NAMESPACE_ANNOTATION,
            "refs": REFS_ANNOTATION,
            "metadata": METADATA_ANNOTATION,
        },
        "droppedAnnotations": BRIDGE_ANNOTATIONS.iter().chain(TOOL_ANNOTATIONS.iter()).collect::<Vec<_>>(),
        "metadataInSpec": METADATA_IN_SPEC,
        "metadataFields": METADATA_FIELDS,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_with_its_reference_fields() {
        let t = table();
        let kinds = t["kinds"].as_array().unwrap();
        assert_eq!(kinds.len(), 7);
        let user = kinds.iter().find(|k| k["kind"] == "User").unwrap();
        assert_eq!(user["plural"], "users");
        assert_eq!(
            user["refFields"],
            json!([{"field": "memberOf", "list": true, "defaultKind": "group"}])
        );
        let component = kinds.iter().find(|k| k["kind"] == "Component").unwrap();
        let depends = component["refFields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["field"] == "dependsOn")
            .unwrap();
        assert_eq!(depends["defaultKind"], Value::Null, "a kind is required");
        assert_eq!(t["annotations"]["name"], NAME_ANNOTATION);
        assert_eq!(t["droppedAnnotations"].as_array().unwrap().len(), 5);
    }
}
