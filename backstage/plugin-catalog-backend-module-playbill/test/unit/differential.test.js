// The module's mapping against `playbill export`: for every catalog object of the example
// catalog, of the bridge fixtures (imported from Backstage files, with and without a namespace
// mapping) and of seeded random catalogs, toEntities() must give exactly what
// `playbill export -f FILE -o json --no-relations` prints, entity for entity (export sorts them;
// order means nothing to Backstage).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { toEntities, entityRef } from '../../src/mapping.js';
import { ROOT, playbill, yamlDocs } from '../playbill.js';
import { generateCatalog } from '../../../../tests/backstage/generate.mjs';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'playbill-provider-diff-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

/** What the API server holds for a manifest: the namespace always set. */
function asStored(manifest) {
  const o = structuredClone(manifest);
  o.metadata ??= {};
  o.metadata.namespace ??= 'default';
  return o;
}

/** Every .yaml file under dir, sorted, as one text. */
function readTree(dir) {
  const out = [];
  const walk = (d) => {
    for (const e of readdirSync(d, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.ya?ml$/.test(e.name)) out.push(readFileSync(p, 'utf8'));
    }
  };
  walk(path.join(ROOT, dir));
  return out.join('\n---\n');
}

/** Asserts the module maps `manifestsText` as `playbill export` does; returns the entity count. */
function differential(label, manifestsText) {
  const file = path.join(tmp, `${label.replace(/[^a-z0-9]+/gi, '_')}.yaml`);
  writeFileSync(file, manifestsText);
  const expected = JSON.parse(playbill(['export', '-f', file, '-o', 'json', '--no-relations']));
  const byRef = (a, b) => (entityRef(a) < entityRef(b) ? -1 : entityRef(a) > entityRef(b) ? 1 : 0);
  expected.sort(byRef);
  const actual = toEntities(yamlDocs(manifestsText).map(asStored)).sort(byRef);
  assert.ok(expected.length > 0, `${label}: playbill exported nothing`);
  assert.deepEqual(actual.map(entityRef), expected.map(entityRef), `${label}: the same entities`);
  for (let i = 0; i < expected.length; i++) {
    assert.deepEqual(actual[i], expected[i], `${label}: ${entityRef(expected[i])}`);
  }
  return expected.length;
}

const importText = (backstageText, args = []) => playbill(['import', ...args, '-'], { input: backstageText });

test('examples/catalog', () => {
  const n = differential('examples', readTree('examples/catalog'));
  assert.ok(n >= 20, `only ${n} entities`);
});

test('the bridge fixtures, imported from Backstage files', () => {
  const backstage = readTree('tests/bridge/backstage');
  differential('bridge', importText(backstage));
});

test('the bridge fixtures imported with a namespace mapping (backstage-namespace annotations)', () => {
  const backstage = readTree('tests/bridge/backstage');
  const manifests = importText(backstage, ['--namespace', 'mapped', '--map-namespace', 'shop=retail']);
  assert.match(manifests, /catalog\.playbill\.dev\/backstage-namespace/);
  differential('bridge-mapped', manifests);
});

test('seeded random catalogs, imported from Backstage entities', () => {
  const seeds = Number(process.env.SEEDS ?? 40);
  for (let seed = 1; seed <= seeds; seed++) {
    const text = generateCatalog(seed).map((e) => YAML.stringify(e)).join('---\n');
    differential(`seed ${seed}`, importText(text, seed % 3 === 0 ? ['--namespace', 'mapped'] : []));
  }
});

test('copied or stale annotations do not rename an object, and server-only fields are ignored', () => {
  const manifests = `
apiVersion: catalog.playbill.dev/v1alpha1
kind: Group
metadata:
  name: team-a
  namespace: org
  annotations:
    catalog.playbill.dev/backstage-name: Team_A
    kubectl.kubernetes.io/last-applied-configuration: "{}"
    example.com/kept: "yes"
  labels: {tier: one}
spec: {type: team, children: []}
---
apiVersion: catalog.playbill.dev/v1alpha1
kind: Group
metadata:
  name: team-b
  namespace: org
  annotations:
    catalog.playbill.dev/backstage-name: Team_A
    catalog.playbill.dev/backstage-namespace: Not_A_Label
spec: {type: team, children: [team-a, Group:org/TEAM-A, missing]}
---
apiVersion: catalog.playbill.dev/v1alpha1
kind: Component
metadata:
  name: web
  namespace: shop
  annotations:
    catalog.playbill.dev/backstage-refs: '{"spec.owner": ["Team_A", "something-else"]}'
    catalog.playbill.dev/backstage-metadata: '{"name": "x", "custom": {"a": 1}}'
spec: {type: service, lifecycle: production, owner: org/team-a, title: Web, tags: [a], dependsOn: ["component:org/team-a"]}
`;
  differential('annotations', manifests);
  const [a, b, web] = toEntities(yamlDocs(manifests));
  assert.equal(a.metadata.name, 'Team_A');
  assert.equal(b.metadata.name, 'team-b', 'the annotation names another object');
  assert.equal(b.metadata.namespace, 'org');
  assert.deepEqual(b.spec.children, ['Team_A', 'Group:org/Team_A', 'missing']);
  assert.equal(web.spec.owner, 'org/Team_A');
  assert.deepEqual(web.metadata.custom, { a: 1 });
  assert.equal(web.metadata.title, 'Web');
  assert.equal(web.spec.title, undefined);
});
