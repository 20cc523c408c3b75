// Conformance: Playbill's catalog API (`playbill run`, /api/catalog) against Backstage's own
// catalog backend (@backstage/plugin-catalog-backend 4.0.0 on Postgres, fed the same catalog by
// Playbill's entity provider), both asked through @backstage/catalog-client 1.16.4's
// CatalogClient, every read method, with many arguments. The answers must be equal, except
// where documented (docs/backstage.md, "The catalog API"):
//
// - metadata.uid and metadata.etag are each system's own, and so is Backstage's tie-break
//   among equal sort values (its random entity id; Playbill's entity ref): ordered answers are
//   compared on their sort values page by page, and as sets over all pages;
// - Backstage's own annotations (backstage.io/managed-by-location, -origin-location) are
//   taken off its entities; Location entities are none here (the provider registers none);
// - full-text search without fields or order searches metadata.uid in Backstage: not asked.
//
// Infrastructure (Postgres, a control plane, a Backstage backend) is the provider package's
// (backstage/plugin-catalog-backend-module-playbill/test/e2e/support.js); its node_modules must
// be installed (`make test-backstage` does). CONFORMANCE_GENERATED sets how many generated
// entities join the example catalog and the bridge fixtures (default 3000).

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CATALOG_FILTER_EXISTS, CatalogClient } from '@backstage/catalog-client';

const here = path.dirname(fileURLToPath(import.meta.url));
const PROVIDER = path.resolve(here, '../../backstage/plugin-catalog-backend-module-playbill');
const { ROOT, playbill, BIN } = await import(path.join(PROVIDER, 'test/playbill.js'));
const support = await import(path.join(PROVIDER, 'test/e2e/support.js'));
const { freePort, providerServiceAccount, sleep, startBackstage, startControlPlane, startPostgres, stopAll, waitFor } = support;

const GENERATED = Number(process.env.CONFORMANCE_GENERATED ?? 3000);
const MANAGED = ['backstage.io/managed-by-location', 'backstage.io/managed-by-origin-location'];

let cp;
let bs;
let op;
/** @type {CatalogClient} */
let pb;
/** @type {CatalogClient} */
let bk;

/** A CatalogClient for `base`; with `token`, every request carries it as a Bearer token. */
const client = (base, token) => new CatalogClient({
  discoveryApi: { getBaseUrl: async () => base },
  ...(token ? {
    fetchApi: {
      fetch: (url, init = {}) => {
        const headers = new Headers(init.headers);
        headers.set('authorization', `Bearer ${token}`);
        return fetch(url, { ...init, headers });
      },
    },
  } : {}),
});

/** A generated catalog: NAMESPACES × kinds, with tags, lifecycles, owners, systems and APIs. */
function generated(n) {
  const namespaces = ['gen-a', 'gen-b', 'gen-c', 'gen-d'];
  const docs = namespaces.map((name) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } }));
  const tags = ['java', 'go', 'rust', 'python', 'web', 'batch', 'critical'];
  const lifecycles = ['production', 'experimental', 'deprecated'];
  const per = Math.max(1, Math.floor(n / namespaces.length));
  for (const [k, ns] of namespaces.entries()) {
    const groups = 5;
    const systems = 10;
    for (let g = 0; g < groups; g++) docs.push({ apiVersion: 'catalog.playbill.dev/v1alpha1', kind: 'Group', metadata: { name: `team-${g}`, namespace: ns }, spec: { type: g === 0 ? 'department' : 'team', children: [], ...(g ? { parent: 'team-0' } : {}) } });
    for (let s = 0; s < systems; s++) docs.push({ apiVersion: 'catalog.playbill.dev/v1alpha1', kind: 'System', metadata: { name: `system-${s}`, namespace: ns }, spec: { owner: `team-${s % groups}`, ...(s % 3 ? {} : { title: `System ${s}` }) } });
    const rest = per - groups - systems;
    for (let i = 0; i < rest; i++) {
      const h = (i * 7919 + k * 104729) % 1000003;
      const common = { owner: `team-${h % groups}`, system: `system-${h % systems}`, tags: [tags[h % tags.length], tags[(h >> 3) % tags.length]].filter((t, j, a) => a.indexOf(t) === j) };
      if (i % 4 === 3) {
        docs.push({ apiVersion: 'catalog.playbill.dev/v1alpha1', kind: 'API', metadata: { name: `api-${i}`, namespace: ns }, spec: { type: h % 2 ? 'openapi' : 'grpc', lifecycle: lifecycles[h % 3], definition: `api ${i}`, ...common } });
      } else {
        const apis = i >= 4 ? [`api-${(i - i % 4) - 1}`] : [];
        docs.push({ apiVersion: 'catalog.playbill.dev/v1alpha1', kind: 'Component', metadata: { name: `svc-${String(i).padStart(4, '0')}`, namespace: ns }, spec: { type: ['service', 'website', 'library'][h % 3], lifecycle: lifecycles[(h >> 2) % 3], providesApis: apis, ...(i % 5 === 0 ? { description: `Service number ${i} of ${ns}` } : {}), ...common } });
      }
    }
  }
  return docs;
}

/** An entity as compared: without each system's own fields and annotations. */
function normal(entity) {
  if (entity === undefined || entity === null) return null;
  const e = structuredClone(entity);
  if (e.metadata) {
    delete e.metadata.uid;
    delete e.metadata.etag;
    if (e.metadata.annotations) {
      for (const k of MANAGED) delete e.metadata.annotations[k];
      if (!Object.keys(e.metadata.annotations).length) delete e.metadata.annotations;
    }
    if (!Object.keys(e.metadata).length) delete e.metadata;
  }
  return e;
}

/** JSON with object keys sorted: the two sides write keys in different orders. */
const canonical = (v) => (Array.isArray(v) ? v.map(canonical) : v && typeof v === 'object' ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, canonical(v[k])])) : v);
const key = (e) => JSON.stringify(canonical(e));
const asSet = (items) => items.map(normal).map(key).sort();
const ref = (e) => `${e.kind}:${e.metadata.namespace}/${e.metadata.name}`.toLowerCase();

/** The lowercased values an entity has at a dotted field (what Backstage sorts on). */
function sortValue(entity, field) {
  let v = entity;
  const parts = field.split('.');
  for (let i = 0; i < parts.length && v !== undefined; i++) {
    let k = parts[i];
    while (v && !(k in v) && i + 1 < parts.length) k = `${k}.${parts[++i]}`;
    v = v?.[k];
  }
  return v === undefined || v === null ? null : String(v).toLowerCase();
}

const BASES = new Map();
/** Headers of a raw request to `c`'s API: Playbill's wants the reader's token. */
const HEADERS = new Map();
const get = (c, p) => fetch(`${BASES.get(c)}${p}`, { headers: HEADERS.get(c) ?? {} });
let calls = 0;
let errors = 0;
const failures = [];

/** Calls `fn` with both clients; `compare(playbill, backstage)` must not throw. Errors must match. */
async function both(what, fn, compare = (a, b) => assert.deepEqual(a, b)) {
  calls++;
  const [a, b] = await Promise.allSettled([fn(pb), fn(bk)]);
  try {
    if (a.status === 'rejected' || b.status === 'rejected') {
      errors++;
      const status = (r) => (r.status === 'fulfilled' ? 'ok' : `${r.reason?.response?.status ?? r.reason?.name}:${r.reason?.body?.error?.name ?? ''}`);
      assert.equal(status(a), status(b), `error status differs (playbill: ${a.reason?.message ?? 'ok'}; backstage: ${b.reason?.message ?? 'ok'})`);
      return;
    }
    compare(a.value, b.value);
  } catch (e) {
    failures.push(`${what}: ${e.message.slice(0, 1500)}`);
  }
}

const sameSet = (a, b) => assert.deepEqual(asSet(a.items), asSet(b.items));

/** Pages of an ordered answer: equal sort values page by page; the same entities in all. */
function sameOrdered(field) {
  return (a, b) => {
    assert.deepEqual(a.items.map((e) => sortValue(e, field)), b.items.map((e) => sortValue(e, field)), `values of ${field}`);
  };
}

before(async () => {
  const postgres = await startPostgres();
  cp = await startControlPlane();
  cp.kubectl(['apply', '-f', path.join(ROOT, 'examples/catalog')]);
  cp.kubectl(['apply', '-f', '-'], { input: playbill(['import', 'tests/bridge/backstage']) });
  if (GENERATED > 0) cp.kubectl(['create', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: generated(GENERATED) }) });
  // One ServiceAccount that may list every kind cluster-wide: Backstage's provider reads the
  // cluster as it, and the conformance client asks Playbill's API (--api-auth=rbac, the
  // default) with its token, so both see the whole catalog.
  const reader = providerServiceAccount(cp);
  const port = await freePort();
  const proc = spawn(BIN, ['run', '--listen', `127.0.0.1:${port}`, '--exit-on-stdin-close', '--leader-elect=false'], {
    env: { ...process.env, KUBECONFIG: cp.kubeconfig, RUST_LOG: 'warn' },
    stdio: ['pipe', 'ignore', 'inherit'],
  });
  op = { proc, base: `http://127.0.0.1:${port}/api/catalog` };
  bs = await startBackstage({ postgres, provider: reader, clusterId: 'conformance' });
  pb = client(op.base, reader.token);
  bk = client(bs.base);
  BASES.set(pb, op.base).set(bk, bs.base);
  HEADERS.set(pb, { authorization: `Bearer ${reader.token}` });
  // Both hold the whole catalog, with the same relations.
  let last = '';
  await waitFor('Backstage and Playbill to hold the same catalog', async () => {
    const [a, b] = await Promise.all([pb.getEntities(), bk.getEntities()]);
    const [sa, sb] = [asSet(a.items), asSet(b.items)];
    const da = sa.filter((x) => !sb.includes(x));
    const db = sb.filter((x) => !sa.includes(x));
    last = `${sa.length} vs ${sb.length}; only in Playbill: ${da.slice(0, 2).join('\n')}\nonly in Backstage: ${db.slice(0, 2).join('\n')}`;
    return sa.length > 60 && sa.length === sb.length && sa.every((x, i) => x === sb[i]);
  }, { timeoutMs: Number(process.env.CONFORMANCE_SYNC_MS ?? 600_000), intervalMs: 2000 }).catch((e) => assert.fail(`${e.message} (${last})`));
});

after(async () => {
  op?.proc.kill('SIGTERM');
  await stopAll();
});

const FILTERS = [
  undefined,
  { kind: 'component' },
  { kind: ['Component', 'system'] },
  { kind: 'API', 'spec.type': 'openapi' },
  [{ kind: 'group' }, { kind: 'user' }],
  { 'metadata.namespace': 'gen-a' },
  { 'metadata.namespace': ['gen-b', 'acme-shop'], kind: 'component' },
  { 'metadata.tags': 'java' },
  { 'metadata.tags': ['RUST', 'web'] },
  { 'spec.lifecycle': 'production', kind: 'component' },
  { 'spec.owner': 'team-1' },
  { 'relations.ownedBy': 'group:gen-c/team-2' },
  { 'relations.partOf': 'system:gen-a/system-3' },
  { 'relations.memberOf': 'group:acme-org/team-checkout' },
  { 'spec.system': CATALOG_FILTER_EXISTS },
  { 'metadata.description': CATALOG_FILTER_EXISTS, kind: 'component' },
  { 'metadata.title': CATALOG_FILTER_EXISTS },
  { 'spec.type': 'service', 'metadata.tags': 'critical' },
  { kind: 'domain' },
  { kind: 'resource' },
  { 'metadata.name': 'svc-0001' },
  { 'metadata.name': 'TEAM_A' },
  { 'spec.profile.email': CATALOG_FILTER_EXISTS },
  { kind: 'nothing-like-this' },
  [{ 'spec.lifecycle': 'deprecated' }, { 'metadata.tags': 'batch', kind: 'api' }],
];

const PREDICATES = [
  { kind: 'component' },
  { $all: [{ kind: 'component' }, { 'spec.lifecycle': { $in: ['production', 'experimental'] } }] },
  { $any: [{ kind: 'group' }, { 'metadata.tags': { $contains: 'go' } }] },
  { $not: { kind: 'component' } },
  { 'metadata.name': { $hasPrefix: 'svc-00' } },
  { 'spec.system': { $exists: false } },
  { relations: { $contains: { type: 'ownedBy', targetRef: 'group:gen-b/team-3' } } },
  { relations: { $contains: { type: 'hasPart' } }, kind: 'system' },
  { 'metadata.namespace': { $in: ['gen-d'] }, 'spec.type': 'website' },
];

const ORDERS = ['metadata.name', 'kind', 'spec.lifecycle', 'metadata.title', 'spec.type'];

test('every read method of CatalogClient answers as Backstage does', { timeout: 900_000 }, async (t) => {
  // getEntities: filters, with fields, whole lists.
  for (const filter of FILTERS) {
    await both(`getEntities ${JSON.stringify(filter)}`, (c) => c.getEntities({ filter }), sameSet);
    await both(`getEntities fields ${JSON.stringify(filter)}`, (c) => c.getEntities({ filter, fields: ['kind', 'metadata.name', 'metadata.namespace', 'spec.type', 'relations'] }), sameSet);
  }
  for (const fields of [['metadata'], ['spec'], ['metadata.annotations'], ['metadata.tags', 'spec.owner'], ['metadata.annotations.backstage.io/techdocs-ref'], ['nothing.here']]) {
    await both(`getEntities fields ${fields}`, (c) => c.getEntities({ filter: { kind: 'component' }, fields }), sameSet);
  }
  // getEntities: order, limit, offset, after.
  for (const field of ORDERS) {
    for (const order of ['asc', 'desc']) {
      for (const [offset, limit] of [[0, 25], [25, 25], [0, 7]]) {
        await both(`getEntities order ${order}:${field} ${offset}+${limit}`, (c) => c.getEntities({ order: { field, order }, offset, limit }), sameOrdered(field));
      }
      await both(`getEntities order ${order}:${field} filtered`, (c) => c.getEntities({ filter: { kind: ['system', 'group'] }, order: { field, order } }), sameOrdered(field));
    }
  }
  for (const off of [0, 10, 100]) {
    const after = Buffer.from(JSON.stringify({ limit: 10, offset: off })).toString('base64');
    await both(`getEntities after ${off}`, (c) => c.getEntities({ order: { field: 'metadata.name', order: 'asc' }, after }), sameOrdered('metadata.name'));
  }
  // Bad input.
  for (const request of [{ limit: -1 }, { offset: -5 }, { limit: 0 }, { after: '!!' }]) {
    await both(`getEntities bad ${JSON.stringify(request)}`, (c) => c.getEntities(request), () => assert.fail('both succeeded'));
  }

  // queryEntities: pages by cursor, both ways.
  const walk = async (c, request) => {
    const pages = [];
    let res = await c.queryEntities(request);
    pages.push(res);
    while (res.pageInfo.nextCursor && pages.length < 200) {
      res = await c.queryEntities({ cursor: res.pageInfo.nextCursor, limit: request.limit, fields: request.fields });
      pages.push(res);
    }
    const back = [];
    while (res.pageInfo.prevCursor && back.length < 200) {
      res = await c.queryEntities({ cursor: res.pageInfo.prevCursor, limit: request.limit, fields: request.fields });
      back.push(res);
    }
    return { pages, back };
  };
  const sameWalk = (field) => (a, b) => {
    assert.equal(a.pages.length, b.pages.length, 'pages');
    assert.equal(a.back.length, b.back.length, 'pages back');
    for (const [i, p] of a.pages.entries()) {
      assert.equal(p.totalItems, b.pages[i].totalItems, 'totalItems');
      assert.equal(p.items.length, b.pages[i].items.length, `page ${i} size`);
      if (field) sameOrdered(field)(p, b.pages[i]);
    }
    for (const [i, p] of a.back.entries()) {
      assert.equal(p.items.length, b.back[i].items.length, `page back ${i} size`);
      if (field) sameOrdered(field)(p, b.back[i]);
    }
    const repeats = (w) => { const all = w.pages.flatMap((p) => p.items).map((e) => key(normal(e))); return all.length - new Set(all).size; };
    assert.deepEqual([repeats(a), repeats(b)], [0, 0], 'entities repeated across pages [playbill, backstage]');
    assert.deepEqual(asSet(a.pages.flatMap((p) => p.items)), asSet(b.pages.flatMap((p) => p.items)), 'all pages');
  };
  for (const filter of FILTERS.slice(0, 14)) {
    await both(`queryEntities ${JSON.stringify(filter)}`, (c) => walk(c, { filter, limit: 50 }), sameWalk());
  }
  for (const field of ORDERS) {
    for (const order of ['asc', 'desc']) {
      await both(`queryEntities orderFields ${field} ${order}`, (c) => walk(c, { orderFields: { field, order }, limit: 500 }), sameWalk(field));
      await both(`queryEntities orderFields ${field} ${order} components`, (c) => walk(c, { filter: { kind: 'component' }, orderFields: { field, order }, limit: 97, fields: ['kind', 'metadata.name', 'metadata.namespace', 'spec.lifecycle', 'spec.type', 'metadata.title'] }), sameWalk(field));
    }
  }
  for (const term of ['svc-00', 'TEAM', 'shop', 'x-nothing', ' web ']) {
    await both(`queryEntities fullText ${term} on the order field`, (c) => walk(c, { fullTextFilter: { term }, orderFields: { field: 'metadata.name', order: 'asc' }, limit: 100 }), sameWalk('metadata.name'));
    await both(`queryEntities fullText ${term} fields`, (c) => walk(c, { fullTextFilter: { term, fields: ['metadata.name', 'spec.owner', 'metadata.description'] }, orderFields: { field: 'metadata.name', order: 'desc' }, limit: 100 }), sameWalk('metadata.name'));
  }
  for (const totalItems of ['include', 'exclude']) {
    await both(`queryEntities totalItems ${totalItems}`, (c) => c.queryEntities({ filter: { kind: 'system' }, limit: 5, totalItems }), (a, b) => assert.equal(a.totalItems, b.totalItems));
  }
  for (const offset of [0, 3, 40]) {
    await both(`queryEntities offset ${offset}`, (c) => c.queryEntities({ orderFields: { field: 'metadata.name', order: 'asc' }, offset, limit: 10 }), sameOrdered('metadata.name'));
  }
  await both('queryEntities limit 0', (c) => c.queryEntities({ limit: 0, filter: { kind: 'group' } }), (a, b) => { assert.equal(a.items.length, b.items.length); assert.equal(a.totalItems, b.totalItems); });
  for (const query of PREDICATES) {
    await both(`queryEntities query ${JSON.stringify(query)}`, (c) => walk(c, { query, limit: 200 }), sameWalk());
    await both(`queryEntities query ordered ${JSON.stringify(query)}`, (c) => walk(c, { query, orderFields: { field: 'metadata.name', order: 'asc' }, limit: 200 }), sameWalk('metadata.name'));
  }
  await both('queryEntities bad cursor', (c) => c.queryEntities({ cursor: 'bm90IGEgY3Vyc29y' }), () => assert.fail('both succeeded'));

  // getEntitiesByRefs: input order, null for what is missing.
  const all = (await pb.getEntities({ fields: ['kind', 'metadata.namespace', 'metadata.name'] })).items.map(ref).sort();
  const refs = [all[0], 'component:default/does-not-exist', ...all.filter((_, i) => i % 97 === 5), all[all.length - 1], all[0], 'Component:ACME-SHOP/web-shop'];
  await both('getEntitiesByRefs', (c) => c.getEntitiesByRefs({ entityRefs: refs }), (a, b) => assert.deepEqual(a.items.map(normal), b.items.map(normal)));
  await both('getEntitiesByRefs fields', (c) => c.getEntitiesByRefs({ entityRefs: refs, fields: ['metadata.name', 'spec.owner'] }), (a, b) => assert.deepEqual(a.items.map(normal), b.items.map(normal)));
  await both('getEntitiesByRefs filter', (c) => c.getEntitiesByRefs({ entityRefs: refs, filter: { kind: 'component' } }), (a, b) => assert.deepEqual(a.items.map(normal), b.items.map(normal)));
  await both('getEntitiesByRefs query', (c) => c.getEntitiesByRefs({ entityRefs: refs, query: { 'metadata.namespace': { $in: ['gen-a', 'acme-org'] } } }), (a, b) => assert.deepEqual(a.items.map(normal), b.items.map(normal)));
  await both('getEntitiesByRefs none', (c) => c.getEntitiesByRefs({ entityRefs: [] }), (a, b) => assert.deepEqual(a, b));

  // getEntityByRef, ancestry, by uid (each system's own uids).
  const sample = [...all.filter((_, i) => i % 41 === 0), 'component:acme-shop/web-shop', 'Group:Acme-Org/Team-Checkout', 'component:nowhere/nothing', 'user:default/nobody'];
  for (const r of sample) {
    await both(`getEntityByRef ${r}`, (c) => c.getEntityByRef(r), (a, b) => assert.deepEqual(normal(a), normal(b)));
    await both(`getEntityAncestors ${r}`, (c) => c.getEntityAncestors({ entityRef: r }), (a, b) => assert.deepEqual({ ...a, items: a.items.map((i) => ({ ...i, entity: normal(i.entity) })) }, { ...b, items: b.items.map((i) => ({ ...i, entity: normal(i.entity) })) }));
  }
  // By uid (not a CatalogClient method; the REST route): each side's own uids.
  for (const r of sample.slice(0, 5)) {
    await both(`GET /entities/by-uid of ${r}`, async (c) => {
      const e = await c.getEntityByRef(r);
      if (!e) return null;
      const res = await get(c, `/entities/by-uid/${e.metadata.uid}`);
      return { status: res.status, entity: normal(await res.json()) };
    });
  }
  await both('GET /entities/by-uid unknown', async (c) => (await get(c, '/entities/by-uid/00000000-0000-0000-0000-000000000000')).status);

  // Facets.
  const FACETS = [['kind'], ['spec.type', 'spec.lifecycle'], ['metadata.tags'], ['metadata.namespace', 'spec.owner'], ['relations.ownedBy'], ['spec.system'], ['Kind', 'METADATA.TAGS'], ['metadata.name'], ['nothing.here']];
  for (const facets of FACETS) {
    for (const filter of [undefined, { kind: 'component' }, [{ 'metadata.namespace': 'gen-a' }, { kind: 'group' }], { 'metadata.tags': 'java' }]) {
      await both(`getEntityFacets ${facets} ${JSON.stringify(filter)}`, (c) => c.getEntityFacets({ facets, filter }));
    }
  }
  for (const query of PREDICATES) {
    await both(`getEntityFacets query ${JSON.stringify(query)}`, (c) => c.getEntityFacets({ facets: ['kind', 'metadata.tags'], query }));
  }

  // Locations: none registered.
  await both('getLocations', (c) => c.getLocations());
  await both('queryLocations', (c) => c.queryLocations({ limit: 10 }));
  await both('getLocationById', (c) => c.getLocationById('00000000-0000-0000-0000-000000000000'));
  await both('getLocationByRef', (c) => c.getLocationByRef('url:https://example.com/catalog-info.yaml'));

  // Validation.
  const component = { apiVersion: 'backstage.io/v1alpha1', kind: 'Component', metadata: { name: 'checked' }, spec: { type: 'service', lifecycle: 'production', owner: 'team-a' } };
  const entities = [
    component,
    { ...component, metadata: { name: 'checked', namespace: 'acme', tags: ['java'], title: 'Checked' } },
    { apiVersion: 'backstage.io/v1alpha1', kind: 'API', metadata: { name: 'orders' }, spec: { type: 'openapi', lifecycle: 'production', owner: 'team-a', definition: 'openapi: 3.0.0' } },
    { apiVersion: 'backstage.io/v1alpha1', kind: 'Group', metadata: { name: 'team-a' }, spec: { type: 'team', children: [] } },
    { apiVersion: 'backstage.io/v1alpha1', kind: 'User', metadata: { name: 'ada' }, spec: { memberOf: ['team-a'] } },
    { apiVersion: 'backstage.io/v1alpha1', kind: 'System', metadata: { name: 'shop' }, spec: { owner: 'team-a' } },
    { apiVersion: 'backstage.io/v1alpha1', kind: 'Domain', metadata: { name: 'commerce' }, spec: { owner: 'team-a' } },
    { apiVersion: 'backstage.io/v1alpha1', kind: 'Resource', metadata: { name: 'db' }, spec: { type: 'database', owner: 'team-a' } },
    // Invalid.
    { ...component, spec: { type: 'service', lifecycle: 'production' } },
    { ...component, spec: { lifecycle: 'production', owner: 'team-a' } },
    { ...component, metadata: { name: 'not a name' } },
    { ...component, metadata: { name: 'x'.repeat(70) } },
    { ...component, spec: { ...component.spec, lifecycle: 7 } },
    { apiVersion: 'backstage.io/v1alpha1', kind: 'Group', metadata: { name: 'team-b' }, spec: { type: 'team' } },
    { apiVersion: 'backstage.io/v1alpha1', kind: 'API', metadata: { name: 'orders' }, spec: { type: 'openapi', lifecycle: 'production', owner: 'team-a' } },
    { apiVersion: 'backstage.io/v1alpha1', kind: 'System', metadata: { name: 'shop' }, spec: {} },
  ];
  for (const e of entities) {
    await both(`validateEntity ${JSON.stringify(e).slice(0, 120)}`, (c) => c.validateEntity(e, 'url:https://example.com/catalog-info.yaml'), (a, b) => assert.equal(a.valid, b.valid, `valid: playbill ${a.valid} ${JSON.stringify(a.errors ?? []).slice(0, 300)}; backstage ${b.valid} ${JSON.stringify(b.errors ?? []).slice(0, 300)}`));
  }

  t.diagnostic(`${calls} calls to each side (${errors} answered with an error); ${failures.length} differ`);
  assert.ok(calls >= 200, `only ${calls} calls`);
  assert.deepEqual(failures, [], `${failures.length} of ${calls} calls differ:\n${failures.join('\n')}`);
});
