//! Import and export without a cluster: Backstage text → manifests → catalog objects → Backstage.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::export::{self, BackstageEntity};
use super::import::{self, Options};
use super::names::{NAME_ANNOTATION, REFS_ANNOTATION};
use crate::catalog::CatalogObject;
use crate::model::{Entity, Kind, RawRef, catalog_relations, rules_for};

const CATALOG: &str = r#"
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: Petstore_Web
  title: Pet store
  description: The web shop
  tags: [java, web]
  links: [{url: "https://example.com", title: Home, icon: dashboard, type: website}]
  labels: {tier: frontend}
  annotations: {backstage.io/techdocs-ref: "dir:."}
  customField: {a: 1}
spec:
  type: website
  lifecycle: production
  owner: team_A
  system: payments/Pay_System
  subcomponentOf: Petstore
  dependsOn: [Resource:Pets_DB, component:default/petstore, "resource:ops/Ghost_DB"]
  providesApis: [Pet_API]
  consumesApis: [payments/billing.v2]
  extraKey: [1, {b: c}]
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: Petstore}
spec: {type: service, lifecycle: production, owner: user:JDoe, dependencyOf: [component:Petstore_Web]}
---
apiVersion: backstage.io/v1alpha1
kind: Resource
metadata: {name: Pets_DB, namespace: default}
spec: {type: database, owner: Team_A, system: payments/pay_system}
---
apiVersion: backstage.io/v1alpha1
kind: API
metadata: {name: Pet_API}
spec:
  type: openapi
  lifecycle: production
  owner: Team_A
  definition: |
    openapi: 3.0.0
    info: {title: Pets}
---
apiVersion: backstage.io/v1alpha1
kind: API
metadata: {name: billing.v2, namespace: payments}
spec: {type: grpc, lifecycle: experimental, owner: default/team_a, definition: "syntax = 'proto3';"}
---
apiVersion: backstage.io/v1alpha1
kind: System
metadata: {name: Pay_System, namespace: payments}
spec: {owner: group:default/Team_A, domain: Commerce}
---
apiVersion: backstage.io/v1alpha1
kind: Domain
metadata: {name: Commerce, namespace: payments}
spec: {owner: default/team_a, subdomainOf: Missing_Parent}
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: Team_A}
spec:
  type: team
  parent: Org
  children: []
  members: [JDoe, jane_roe]
  profile: {displayName: Team A, email: team-a@example.com}
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: org}
spec: {type: root, children: [team_a]}
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata: {name: jdoe}
spec: {memberOf: [Team_A], profile: {displayName: Jane Doe, picture: "https://example.com/j.png"}}
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata: {name: Jane_Roe}
spec: {memberOf: []}
"#;

fn originals() -> Vec<Value> {
    crate::manifest::documents("catalog.yaml", CATALOG)
        .map(|(_, v)| v.unwrap())
        .collect()
}

/// The manifests import prints, read back as the API server would hold them.
fn applied(options: &Options) -> Vec<CatalogObject> {
    let outcome = import::import(&[("catalog.yaml".into(), CATALOG.into())], options);
    assert_eq!(outcome.errors, []);
    assert_eq!(outcome.entities.len(), originals().len());
    let yaml = outcome.to_yaml().unwrap();
    crate::manifest::documents("import", &yaml)
        .filter_map(|(_, v)| CatalogObject::from_value(v.unwrap(), "default"))
        .collect()
}

fn exported(objects: &[CatalogObject]) -> Vec<Value> {
    let options = export::Options {
        relations: true,
        server_fields: false,
    };
    let out = export::export(objects, options, &crate::consent::Consents::default());
    assert_eq!(out.skipped, Vec::<String>::new());
    out.entities
        .iter()
        .map(|e| serde_json::to_value(e).unwrap())
        .collect()
}

/// The original entity as Backstage holds it: namespace made explicit.
fn normalised(mut original: Value) -> Value {
    let meta = original["metadata"].as_object_mut().unwrap();
    meta.entry("namespace").or_insert(json!("default"));
    original
}

/// The relations Backstage computes for the original entities, by the rules the differential
/// test checks against Backstage's own processor.
fn backstage_relations(originals: &[Value]) -> BTreeMap<String, Vec<Value>> {
    let entities: Vec<Entity> = originals
        .iter()
        .map(|o| {
            let kind = Kind::parse(o["kind"].as_str().unwrap()).unwrap();
            let mut refs = Vec::new();
            for rule in rules_for(kind) {
                match &o["spec"][rule.field] {
                    Value::String(s) => refs.push(RawRef {
                        field: rule.field,
                        index: None,
                        value: s.clone(),
                    }),
                    Value::Array(items) => {
                        refs.extend(items.iter().enumerate().map(|(i, s)| RawRef {
                            field: rule.field,
                            index: Some(i),
                            value: s.as_str().unwrap().to_owned(),
                        }))
                    }
                    _ => {}
                }
            }
            Entity {
                kind,
                namespace: o["metadata"]["namespace"]
                    .as_str()
                    .unwrap_or("default")
                    .into(),
                name: o["metadata"]["name"].as_str().unwrap().into(),
                refs,
            }
        })
        .collect();
    catalog_relations(&entities)
        .into_iter()
        .map(|(r, rels)| {
            let rows = rels
                .into_iter()
                .map(|r| json!({"type": r.rtype.as_str(), "targetRef": r.target}))
                .collect();
            (r.to_string(), rows)
        })
        .collect()
}

fn key(e: &Value) -> String {
    format!(
        "{}:{}/{}",
        e["kind"].as_str().unwrap().to_lowercase(),
        e["metadata"]["namespace"].as_str().unwrap(),
        e["metadata"]["name"].as_str().unwrap().to_lowercase()
    )
}

fn assert_round_trip(options: &Options) {
    let objects = applied(options);
    let exported = exported(&objects);
    let relations = backstage_relations(&originals());
    let mut by_key: BTreeMap<String, Value> = exported.into_iter().map(|e| (key(&e), e)).collect();
    for original in originals().into_iter().map(normalised) {
        let k = key(&original);
        let mut got = by_key
            .remove(&k)
            .unwrap_or_else(|| panic!("{k} not exported"));
        let rels = got.as_object_mut().unwrap().remove("relations").unwrap();
        assert_eq!(got, original, "{k}");
        assert_eq!(rels, json!(relations[&k]), "relations of {k}");
    }
    assert!(by_key.is_empty(), "{by_key:?}");
}

#[test]
fn round_trip_restores_every_entity_exactly() {
    assert_round_trip(&Options::default());
}

#[test]
fn round_trip_through_other_namespaces() {
    let namespaces = BTreeMap::from([
        ("default".to_owned(), "acme".to_owned()),
        ("payments".to_owned(), "acme-payments".to_owned()),
    ]);
    let objects = applied(&Options {
        namespaces: namespaces.clone(),
        skip_namespaces: false,
    });
    let spaces: BTreeSet<&str> = objects.iter().map(|o| o.namespace.as_str()).collect();
    assert_eq!(spaces, BTreeSet::from(["acme", "acme-payments"]));
    assert_round_trip(&Options {
        namespaces,
        skip_namespaces: false,
    });
}

#[test]
fn imported_manifests_resolve_like_backstage() {
    // The operator's view of the imported catalog has the same relations, in Kubernetes names.
    let outcome = import::import(&[("c.yaml".into(), CATALOG.into())], &Options::default());
    let yaml = outcome.to_yaml().unwrap();
    let now = k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(Default::default());
    let objects =
        crate::catalog::from_manifests(&[("i.yaml".into(), yaml)], "x", 1000, &now).unwrap();
    let web = objects.iter().find(|o| o.name == "petstore-web").unwrap();
    let status = web.status.as_ref().unwrap();
    let rels: Vec<String> = status
        .relations
        .iter()
        .map(|r| format!("{} {}", r.type_, r.target_ref))
        .collect();
    assert!(
        rels.contains(&"ownedBy group:default/team-a".to_owned()),
        "{rels:?}"
    );
    assert!(rels.contains(&"partOf system:payments/pay-system".to_owned()));
    let unresolved: Vec<&str> = status
        .unresolved_refs
        .iter()
        .map(|u| u.target_ref.as_str())
        .collect();
    assert_eq!(unresolved, ["resource:ops/ghost-db"]);
}

#[test]
fn import_output_names_and_annotations() {
    let outcome = import::import(
        &[("c.yaml".into(), CATALOG.into())],
        &Options {
            namespaces: BTreeMap::from([("default".to_owned(), "acme".to_owned())]),
            skip_namespaces: false,
        },
    );
    let web = &outcome.entities[0].manifest;
    assert_eq!(web.metadata.name, "petstore-web");
    assert_eq!(web.metadata.namespace.as_deref(), Some("acme"));
    assert_eq!(web.metadata.annotations[NAME_ANNOTATION], "Petstore_Web");
    let spec = web.spec.as_ref().unwrap();
    assert_eq!(spec["owner"], "team-a");
    assert_eq!(spec["title"], "Pet store");
    assert_eq!(
        spec["dependsOn"],
        json!([
            "Resource:pets-db",
            "component:acme/petstore",
            "resource:ops/ghost-db"
        ])
    );
    // Mixed case alone is left as written: references match case-insensitively.
    let petstore = &outcome.entities[1].manifest;
    assert_eq!(petstore.spec.as_ref().unwrap()["owner"], "user:JDoe");
    assert_eq!(
        petstore.metadata.annotations[REFS_ANNOTATION],
        r#"{"spec.dependencyOf[0]":["component:Petstore_Web","component:petstore-web"]}"#
    );
    let names: Vec<&str> = outcome
        .namespaces
        .iter()
        .map(|n| n.metadata.name.as_str())
        .collect();
    assert_eq!(names, ["acme", "payments"]);
    let no_ns = import::import(
        &[("c.yaml".into(), CATALOG.into())],
        &Options {
            skip_namespaces: true,
            ..Options::default()
        },
    );
    assert!(no_ns.namespaces.is_empty());
    assert!(!no_ns.to_yaml().unwrap().contains("kind: Namespace"));
}

fn errors_of(text: &str) -> Vec<String> {
    import::import(&[("bad.yaml".into(), text.into())], &Options::default())
        .errors
        .iter()
        .map(|e| e.to_string())
        .collect()
}

#[test]
fn invalid_entities_name_file_document_and_field() {
    let text = "\
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: fine}
spec: {type: team, children: []}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: web, tags: [Java]}
spec: {type: website, lifecycle: production, dependsOn: [db]}
";
    let outcome = import::import(&[("bad.yaml".into(), text.into())], &Options::default());
    assert_eq!(
        outcome.entities.len(),
        1,
        "the valid entity is still imported"
    );
    let errors: Vec<String> = outcome.errors.iter().map(|e| e.to_string()).collect();
    assert_eq!(
        errors,
        [
            "bad.yaml: document 2: spec.owner: Required value",
            "bad.yaml: document 2: spec.dependsOn[0]: must name the target's kind, e.g. component:name or resource:namespace/name",
            "bad.yaml: document 2: metadata.tags[0]: must be lowercase a-z, 0-9, ':', '+' or '#', in words joined by single '-' (e.g. java, python:3, c++)",
        ]
    );
    assert!(!outcome.to_yaml().unwrap().contains("name: web"));

    let errors = errors_of(
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: 'a b', namespace: Bad_NS, labels: {'x y': z}}\nspec: {type: t, lifecycle: l, owner: o}\n",
    );
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert!(errors[0].contains("metadata.name"));
    assert!(errors[1].contains("metadata.namespace"));
    assert!(errors[2].contains("metadata.labels.x y"));

    let errors = errors_of("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n");
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors[0].starts_with("bad.yaml: document 1: apiVersion:"));
    assert!(errors[1].contains("kind: \"ConfigMap\" is not a kind Playbill holds"));

    let errors = errors_of("- just\n- a list\n");
    assert_eq!(
        errors,
        ["bad.yaml: document 1: document: must be a mapping"]
    );
    let errors = errors_of("kind: [\n");
    assert!(errors[0].starts_with("bad.yaml: document 1: document: not valid YAML"));
}

#[test]
fn entities_that_become_one_object_are_both_refused() {
    let text = "\
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: Team_A}
spec: {type: team, children: []}
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata: {name: team-a}
spec: {memberOf: []}
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: team-a}
spec: {type: team, children: []}
";
    let outcome = import::import(&[("c.yaml".into(), text.into())], &Options::default());
    let kept: Vec<&str> = outcome
        .entities
        .iter()
        .map(|e| e.manifest.kind.as_str())
        .collect();
    assert_eq!(kept, ["User"], "a User and a Group may share a name");
    assert_eq!(outcome.errors.len(), 2);
    assert_eq!(
        outcome.errors[0].to_string(),
        "c.yaml: document 1: metadata.name: \"Team_A\" and \"team-a\" (c.yaml: document 3) would both be the Group default/team-a: rename one of them"
    );
    assert_eq!(outcome.errors[1].source.document, 3);
}

#[test]
fn locations_and_templates_are_skipped_with_a_note() {
    let text = "\
apiVersion: backstage.io/v1alpha1
kind: Location
metadata: {name: root}
spec: {targets: [./a.yaml]}
---
apiVersion: scaffolder.backstage.io/v1beta3
kind: Template
metadata: {name: new-service}
spec: {type: service, steps: []}
---
";
    let outcome = import::import(&[("l.yaml".into(), text.into())], &Options::default());
    assert!(outcome.errors.is_empty() && outcome.entities.is_empty());
    assert_eq!(outcome.notes.len(), 2);
    assert!(outcome.notes[0].starts_with("l.yaml: document 1: skipped Location \"root\""));
    assert!(outcome.notes[1].starts_with("l.yaml: document 2: skipped Template"));
    assert_eq!(outcome.to_yaml().unwrap(), "");
}

#[test]
fn backstage_metadata_and_playbill_spec_fields_must_not_clash() {
    let errors = errors_of(
        "apiVersion: backstage.io/v1alpha1\nkind: System\nmetadata: {name: s, title: T}\nspec: {owner: o, title: other}\n",
    );
    assert_eq!(
        errors,
        [
            "bad.yaml: document 1: spec.title: Playbill keeps metadata.title in spec.title; this entity has both"
        ]
    );
    let errors = errors_of(
        "apiVersion: backstage.io/v1alpha1\nkind: System\nmetadata: {name: s, annotations: {catalog.playbill.dev/backstage-name: X}}\nspec: {owner: o}\n",
    );
    assert_eq!(errors.len(), 1);
    assert!(errors[0].contains("are Playbill's own"));
}

/// One object as the API server returns it, with the annotations import left.
fn object(kind: &str, ns: &str, name: &str, annotations: Value, spec: Value) -> CatalogObject {
    CatalogObject::from_value(
        json!({
            "apiVersion": "catalog.playbill.dev/v1alpha1", "kind": kind,
            "metadata": {"name": name, "namespace": ns, "annotations": annotations,
                         "uid": format!("uid-{name}"), "resourceVersion": "42"},
            "spec": spec,
        }),
        "default",
    )
    .unwrap()
}

fn export_all(objects: &[CatalogObject], server_fields: bool) -> Vec<BackstageEntity> {
    export::export(
        objects,
        export::Options {
            relations: true,
            server_fields,
        },
        &crate::consent::Consents::default(),
    )
    .entities
}

#[test]
fn edits_made_in_kubernetes_win_over_what_import_remembered() {
    let group = object(
        "Group",
        "default",
        "team-a",
        json!({NAME_ANNOTATION: "Team_A"}),
        json!({"type": "team", "children": []}),
    );
    // Import rewrote `Team_B` to `team-b`; since then someone pointed owner at team-a, and added
    // a System reference to an entity whose Backstage name differs.
    let component = object(
        "Component",
        "default",
        "web",
        json!({REFS_ANNOTATION: r#"{"spec.owner":["Team_B","team-b"]}"#}),
        json!({"type": "website", "lifecycle": "production", "owner": "team-a"}),
    );
    let out = export_all(&[group, component], false);
    let web = &out[1];
    assert_eq!(
        web.spec["owner"], "Team_A",
        "the current target, in its Backstage name"
    );
    assert_eq!(
        web.relations.as_ref().unwrap()[0].target_ref,
        "group:default/team_a"
    );
    let team = &out[0];
    assert_eq!(team.metadata.name, "Team_A");
    assert_eq!(
        team.relations.as_ref().unwrap()[0].target_ref,
        "component:default/web"
    );
}

#[test]
fn a_name_annotation_that_no_longer_fits_the_object_is_ignored() {
    let copied = object(
        "Group",
        "default",
        "team-b",
        json!({NAME_ANNOTATION: "Team_A"}),
        json!({"type": "team", "children": []}),
    );
    assert_eq!(export_all(&[copied], false)[0].metadata.name, "team-b");
}

#[test]
fn export_drops_tool_and_bridge_annotations_and_adds_server_fields_on_request() {
    let o = object(
        "System",
        "default",
        "shop",
        json!({
            "kubectl.kubernetes.io/last-applied-configuration": "{}",
            "backstage.io/techdocs-ref": "dir:.",
            "catalog.playbill.dev/backstage-metadata": r#"{"name": "evil", "custom": true}"#,
        }),
        json!({"owner": "team-a"}),
    );
    let with = &export_all(std::slice::from_ref(&o), true)[0];
    assert_eq!(with.metadata.uid.as_deref(), Some("uid-shop"));
    assert_eq!(with.metadata.etag.as_deref(), Some("42"));
    assert_eq!(
        with.metadata.annotations.keys().collect::<Vec<_>>(),
        ["backstage.io/techdocs-ref"]
    );
    assert_eq!(
        with.metadata.name, "shop",
        "kept extras never shadow real fields"
    );
    assert_eq!(with.metadata.extra["custom"], true);
    let without = &export_all(&[o], false)[0];
    assert_eq!(
        (&without.metadata.uid, &without.metadata.etag),
        (&None, &None)
    );
    let bare = export::export(
        &export_objects_sample(),
        export::Options::default(),
        &crate::consent::Consents::default(),
    );
    assert!(bare.entities.iter().all(|e| e.relations.is_none()));
}

fn export_objects_sample() -> Vec<CatalogObject> {
    applied(&Options::default())
}

#[test]
fn objects_whose_spec_does_not_fit_are_reported_not_exported() {
    let mut broken = object(
        "Component",
        "default",
        "x",
        json!({}),
        json!({"type": "t", "lifecycle": "l"}),
    );
    assert!(broken.entity.is_err());
    broken.namespace = "default".into();
    let out = export::export(
        &[broken],
        export::Options::default(),
        &crate::consent::Consents::default(),
    );
    assert!(out.entities.is_empty());
    assert_eq!(out.skipped.len(), 1);
    assert!(out.skipped[0].contains("owner"), "{:?}", out.skipped);
}

#[test]
fn a_dangling_reference_that_would_normalise_onto_an_entity_keeps_dangling() {
    let text = "\
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: team-a}
spec: {type: team, children: []}
---
apiVersion: backstage.io/v1alpha1
kind: System
metadata: {name: shop}
spec: {owner: Team_A, domain: default/Some_Domain}
";
    let options = Options {
        namespaces: BTreeMap::from([("default".to_owned(), "acme".to_owned())]),
        skip_namespaces: true,
    };
    let outcome = import::import(&[("n.yaml".into(), text.into())], &options);
    assert!(outcome.errors.is_empty());
    assert_eq!(
        outcome.notes,
        [
            "n.yaml: document 2: spec.owner: \"Team_A\" names no entity, as in Backstage; it is kept as \"Team_A\", not normalised to \"team-a\", which would name group:default/team-a"
        ]
    );
    let shop = &outcome.entities[1].manifest;
    let spec = shop.spec.as_ref().unwrap();
    assert_eq!(spec["owner"], "Team_A");
    assert_eq!(
        spec["domain"], "acme/some-domain",
        "other dangling refs still normalise"
    );
    assert_eq!(
        shop.metadata.annotations[REFS_ANNOTATION],
        r#"{"spec.domain":["default/Some_Domain","acme/some-domain"]}"#
    );
    // The operator's view agrees with Backstage's: the owner does not resolve.
    let now = k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(Default::default());
    let yaml = outcome.to_yaml().unwrap();
    let objects = crate::catalog::from_manifests(&[("i".into(), yaml)], "x", 1000, &now).unwrap();
    let shop = objects.iter().find(|o| o.name == "shop").unwrap();
    let unresolved: Vec<&str> = shop
        .status
        .as_ref()
        .unwrap()
        .unresolved_refs
        .iter()
        .map(|u| u.target_ref.as_str())
        .collect();
    assert_eq!(unresolved, ["group:acme/team_a", "domain:acme/some-domain"]);
}

#[test]
fn placeholders_in_the_fixtures_resolve_relative_to_their_file() {
    use super::placeholders::DiskFiles;
    let dir = "tests/bridge/placeholders".to_owned();
    let inputs = crate::manifest::read_inputs(std::slice::from_ref(&dir)).unwrap();
    let out = import::import_with(&inputs, &Options::default(), &DiskFiles::new(&[dir]));
    assert!(out.errors.is_empty(), "{:#?}", out.errors);
    let names: Vec<&str> = out
        .entities
        .iter()
        .map(|e| e.backstage_name.as_str())
        .collect();
    assert_eq!(names, ["team-pets", "petstore", "petstore-api"]);
    // The files placeholders read are data, not entities.
    assert_eq!(
        out.notes,
        [
            "tests/bridge/placeholders/apis/openapi.yaml: skipped: a placeholder reads this file as data",
            "tests/bridge/placeholders/links.yaml: skipped: a placeholder reads this file as data",
        ]
    );
    let api = out.entities[2].manifest.spec.as_ref().unwrap();
    let openapi = std::fs::read_to_string("tests/bridge/placeholders/apis/openapi.yaml").unwrap();
    assert_eq!(api["definition"], Value::String(openapi));
    let component = &out.entities[1].manifest;
    let spec = component.spec.as_ref().unwrap();
    assert_eq!(spec["description"], "Sells pets.");
    assert_eq!(
        spec["links"],
        json!([{"url": "https://petstore.example/docs", "title": "Docs"}])
    );
    assert_eq!(
        component.metadata.labels,
        BTreeMap::from([
            ("pci".to_owned(), "false".to_owned()),
            ("tier".to_owned(), "backend".to_owned())
        ])
    );
}

#[test]
fn placeholders_naming_urls_or_files_outside_are_refused_by_field() {
    use super::placeholders::DiskFiles;
    let dir = "tests/bridge/placeholders-refused".to_owned();
    let inputs = crate::manifest::read_inputs(std::slice::from_ref(&dir)).unwrap();
    let out = import::import_with(&inputs, &Options::default(), &DiskFiles::new(&[dir]));
    let names: Vec<&str> = out
        .entities
        .iter()
        .map(|e| e.backstage_name.as_str())
        .collect();
    assert_eq!(names, ["team-pets"]);
    let errors: Vec<(usize, &str, &str)> = out
        .errors
        .iter()
        .map(|e| (e.source.document, e.field.as_str(), e.message.as_str()))
        .collect();
    assert_eq!(errors.len(), 2, "{errors:#?}");
    assert_eq!((errors[0].0, errors[0].1), (1, "spec.definition"));
    assert!(
        errors[0]
            .2
            .contains("names the URL \"https://petstore.example/openapi.yaml\"")
    );
    assert!(errors[0].2.contains("reads no network"));
    assert_eq!((errors[1].0, errors[1].1), (3, "spec.definition"));
    assert!(errors[1].2.contains("outside the directory being imported"));
}

#[test]
fn placeholders_are_refused_when_no_files_can_be_read() {
    let text = "\
apiVersion: backstage.io/v1alpha1
kind: API
metadata: {name: a}
spec: {type: openapi, lifecycle: production, owner: t, definition: {$text: ./openapi.yaml}}
";
    let errors = errors_of(text);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with(
            "bad.yaml: document 1: spec.definition: placeholder $text could not read \"./openapi.yaml\""
        ),
        "{errors:?}"
    );
}
