#!/usr/bin/env bash
# Generates, from argocd/health.lua, everything Argo CD needs per catalog kind:
#
#   resource_customizations/catalog.playbill.dev/<Kind>/health.lua        (byte-identical copies)
#   resource_customizations/catalog.playbill.dev/<Kind>/health_test.yaml  (Argo CD's test format)
#   resource_customizations/catalog.playbill.dev/<Kind>/testdata/*.yaml   (objects as the cluster has them)
#   argocd-cm.yaml   the argocd-cm data keys resource.customizations.health.catalog.playbill.dev_<Kind>
#
# Usage: argocd/generate.sh [OUTDIR]   (OUTDIR defaults to argocd/; tests/argocd generates into a
# temporary directory and fails if the result differs from what is committed.)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${1:-$here}"
src="$here/health.lua"
group="catalog.playbill.dev"
kinds=(Component System API Resource Domain Group User)

rm -rf "$out/resource_customizations/$group"
mkdir -p "$out/resource_customizations/$group"

# ---------------------------------------------------------------- per-kind sample entities
# name, namespace, spec (indented two spaces), the Ready=True message, and two degraded cases:
# a dangling reference (NotFound) and a kind-specific second failure.
kind_data() {
  ns=payments
  case "$1" in
  Component)
    name=checkout
    spec='  type: service
  lifecycle: production
  owner: team-a
  system: shop
  subcomponentOf: checkout-core'
    resolved="all 3 references resolved"
    nf_field=spec.system nf_ref=system:payments/shop
    second=cycle
    second_reason=CycleDetected
    second_message="spec.subcomponentOf: component:payments/checkout is part of a hierarchy cycle: component:payments/checkout, component:payments/checkout-core"
    ;;
  System)
    name=shop
    spec='  owner: team-a
  domain: commerce'
    resolved="all 2 references resolved"
    nf_field=spec.domain nf_ref=domain:payments/commerce
    second=invalidkind
    second_reason=UnresolvedReferences
    second_message="spec.owner: component:payments/team-a is a Component; owner must name a Group or User"
    ;;
  API)
    name=payments-api
    spec='  type: openapi
  lifecycle: production
  owner: team-a
  system: shop
  definition: |
    openapi: 3.0.3
    info: {title: Payments API, version: 1.0.0}
    paths: {}'
    resolved="all 2 references resolved"
    nf_field=spec.owner nf_ref=group:payments/team-a
    second=invalidreference
    second_reason=InvalidReference
    second_message="spec.system: reference \\\"system:/shop\\\" has an empty namespace before '/'"
    ;;
  Resource)
    name=payments-db
    spec='  type: database
  owner: team-a
  system: shop
  dependsOn:
    - component:ledger'
    resolved="all 3 references resolved"
    nf_field="spec.dependsOn[0]" nf_ref=component:payments/ledger
    second=invalidkind
    second_reason=UnresolvedReferences
    second_message="spec.dependsOn[0]: api:payments/ledger names a API; dependsOn must name a Component or Resource"
    ;;
  Domain)
    name=finance
    spec='  owner: team-a
  subdomainOf: commerce'
    resolved="all 2 references resolved"
    nf_field=spec.subdomainOf nf_ref=domain:payments/commerce
    second=cycle
    second_reason=CycleDetected
    second_message="spec.subdomainOf: domain:payments/finance is part of a hierarchy cycle: domain:payments/commerce, domain:payments/finance"
    ;;
  Group)
    name=team-a
    spec='  type: team
  parent: engineering
  children: []
  members:
    - jdoe'
    resolved="all 2 references resolved"
    nf_field="spec.members[0]" nf_ref=user:payments/jdoe
    second=cycle
    second_reason=CycleDetected
    second_message="spec.parent: group:payments/team-a is part of a hierarchy cycle: group:payments/engineering, group:payments/team-a"
    ;;
  User)
    name=jdoe
    spec='  memberOf:
    - team-a
    - team-mobile
  profile:
    displayName: Jane Doe'
    resolved="all 2 references resolved"
    nf_field="spec.memberOf[1]" nf_ref=group:payments/team-mobile
    second=invalidkind
    second_reason=UnresolvedReferences
    second_message="spec.memberOf[0]: user:payments/team-a names a User; memberOf must name a Group"
    ;;
  esac
  nf_message="$nf_field: $nf_ref not found"
}

# header KIND GENERATION
header() {
  cat <<EOF
apiVersion: $group/v1alpha1
kind: $1
metadata:
  name: $name
  namespace: $ns
  generation: $2
  resourceVersion: "4711"
  uid: 0b6c2f4e-6f0e-4d0c-9d51-3b1f0e9a7c21
  creationTimestamp: "2026-03-01T09:00:00Z"
spec:
$spec
EOF
}

# status OBSERVED_GENERATION ENTITY_REF [READY_STATUS REASON MESSAGE CONDITION_GENERATION]
status() {
  cat <<EOF
status:
  observedGeneration: $1
  entityRef: $2
EOF
  if [ $# -gt 2 ]; then
    cat <<EOF
  conditions:
    - type: Ready
      status: "$3"
      reason: $4
      message: "$5"
      observedGeneration: $6
      lastTransitionTime: "2026-03-01T09:00:05Z"
EOF
  else
    echo "  conditions: []"
  fi
}

for kind in "${kinds[@]}"; do
  kind_data "$kind"
  lower="$(tr '[:upper:]' '[:lower:]' <<<"$kind")"
  ref="$lower:$ns/$name"
  dir="$out/resource_customizations/$group/$kind"
  mkdir -p "$dir/testdata"
  cp "$src" "$dir/health.lua"
  td="$dir/testdata"

  header "$kind" 3 >"$td/healthy.yaml"
  status 3 "$ref" True Resolved "$resolved" 3 >>"$td/healthy.yaml"
  cat >>"$td/healthy.yaml" <<EOF
  relations:
    - type: ownedBy
      targetRef: group:$ns/team-a
EOF

  # Unknown keys in spec are a warning: still Healthy (or Degraded), the message says so.
  header "$kind" 3 >"$td/healthy-unknown-fields.yaml"
  echo "  titel: A typo" >>"$td/healthy-unknown-fields.yaml"
  echo "  costCenter: cc-42" >>"$td/healthy-unknown-fields.yaml"
  status 3 "$ref" True Resolved "$resolved" 3 >>"$td/healthy-unknown-fields.yaml"
  cat >>"$td/healthy-unknown-fields.yaml" <<EOF
  unknownFields:
    - field: spec.titel
      suggestion: spec.title
      message: "spec.titel is not a field of $kind; did you mean spec.title?"
    - field: spec.costCenter
      message: spec.costCenter is not a field of $kind
EOF

  header "$kind" 2 >"$td/degraded-unknown-field.yaml"
  echo "  titel: A typo" >>"$td/degraded-unknown-field.yaml"
  status 2 "$ref" False UnresolvedReferences "$nf_message" 2 >>"$td/degraded-unknown-field.yaml"
  cat >>"$td/degraded-unknown-field.yaml" <<EOF
  unknownFields:
    - field: spec.titel
      suggestion: spec.title
      message: "spec.titel is not a field of $kind; did you mean spec.title?"
EOF

  header "$kind" 1 >"$td/progressing-no-status.yaml"

  header "$kind" 1 >"$td/progressing-no-ready-condition.yaml"
  status 1 "$ref" >>"$td/progressing-no-ready-condition.yaml"

  # The spec changed (generation 4); the status still describes generation 3.
  header "$kind" 4 >"$td/progressing-generation-lagging.yaml"
  status 3 "$ref" True Resolved "$resolved" 3 >>"$td/progressing-generation-lagging.yaml"

  # A stale Degraded verdict must not be reported for a spec that may have fixed it.
  header "$kind" 4 >"$td/progressing-generation-lagging-degraded.yaml"
  status 3 "$ref" False UnresolvedReferences "$nf_message" 3 >>"$td/progressing-generation-lagging-degraded.yaml"

  # status.observedGeneration is current but the Ready condition was written for an older one.
  header "$kind" 4 >"$td/progressing-condition-generation-lagging.yaml"
  status 4 "$ref" True Resolved "$resolved" 3 >>"$td/progressing-condition-generation-lagging.yaml"

  header "$kind" 2 >"$td/progressing-ready-unknown.yaml"
  status 2 "$ref" Unknown Pending "resolution in progress" 2 >>"$td/progressing-ready-unknown.yaml"

  header "$kind" 2 >"$td/degraded-notfound.yaml"
  status 2 "$ref" False UnresolvedReferences "$nf_message" 2 >>"$td/degraded-notfound.yaml"
  cat >>"$td/degraded-notfound.yaml" <<EOF
  unresolvedRefs:
    - field: $nf_field
      targetRef: $nf_ref
      reason: NotFound
      message: $nf_ref not found
EOF

  header "$kind" 5 >"$td/degraded-$second.yaml"
  status 5 "$ref" False "$second_reason" "$second_message" 5 >>"$td/degraded-$second.yaml"

  cat >"$dir/health_test.yaml" <<EOF
# Generated by argocd/generate.sh; do not edit.
tests:
- healthStatus:
    status: Healthy
    message: "$resolved"
  inputPath: testdata/healthy.yaml
- healthStatus:
    status: Healthy
    message: "$resolved; warning: spec.titel is not a field of $kind; did you mean spec.title? (and 1 more unknown key in spec)"
  inputPath: testdata/healthy-unknown-fields.yaml
- healthStatus:
    status: Degraded
    message: "UnresolvedReferences: $nf_message; warning: spec.titel is not a field of $kind; did you mean spec.title?"
  inputPath: testdata/degraded-unknown-field.yaml
- healthStatus:
    status: Progressing
    message: "Waiting for the Playbill operator to write the status"
  inputPath: testdata/progressing-no-status.yaml
- healthStatus:
    status: Progressing
    message: "Waiting for the Playbill operator to set the Ready condition"
  inputPath: testdata/progressing-no-ready-condition.yaml
- healthStatus:
    status: Progressing
    message: "Waiting for the Playbill operator to observe generation 4 (status describes generation 3)"
  inputPath: testdata/progressing-generation-lagging.yaml
- healthStatus:
    status: Progressing
    message: "Waiting for the Playbill operator to observe generation 4 (status describes generation 3)"
  inputPath: testdata/progressing-generation-lagging-degraded.yaml
- healthStatus:
    status: Progressing
    message: "Waiting for the Playbill operator to observe generation 4 (Ready condition describes generation 3)"
  inputPath: testdata/progressing-condition-generation-lagging.yaml
- healthStatus:
    status: Progressing
    message: "Waiting for the Playbill operator: Ready is Unknown: resolution in progress"
  inputPath: testdata/progressing-ready-unknown.yaml
- healthStatus:
    status: Degraded
    message: "UnresolvedReferences: $nf_message"
  inputPath: testdata/degraded-notfound.yaml
- healthStatus:
    status: Degraded
    message: "$second_reason: $second_message"
  inputPath: testdata/degraded-$second.yaml
EOF
done

# ---------------------------------------------------------------- argocd-cm
{
  cat <<EOF
# Generated by argocd/generate.sh from argocd/health.lua; do not edit.
# Merge these keys into the argocd-cm ConfigMap of your Argo CD installation (namespace argocd),
# e.g. with a kustomize patch; see docs/argocd.md.
apiVersion: v1
kind: ConfigMap
metadata:
  name: argocd-cm
  namespace: argocd
  labels:
    app.kubernetes.io/name: argocd-cm
    app.kubernetes.io/part-of: argocd
data:
EOF
  for kind in "${kinds[@]}"; do
    echo "  resource.customizations.health.${group}_${kind}: |"
    sed -e 's/^\(.\)/    \1/' "$src"
  done
} >"$out/argocd-cm.yaml"
