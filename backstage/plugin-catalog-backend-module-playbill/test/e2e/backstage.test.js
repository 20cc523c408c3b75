// End to end: a real kube-apiserver (the repository's control plane, started here), a real
// Backstage backend (backend-defaults + @backstage/plugin-catalog-backend + this module) on a
// Postgres started here. Backstage's catalog REST API must show exactly what `playbill export`
// prints for the cluster: every entity, every relation (Backstage computes its relations with
// its own processors from the entities the module gives it). Then changes, a deletion, a
// creation, and an API server killed and brought back.
//
// Needs: target/debug/playbill (PLAYBILL_BIN), .playbill/bin/{playbill-controlplane,kubectl}
// (scripts/cluster.sh build), Postgres's initdb and pg_ctl on PATH.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { ROOT, playbill } from '../playbill.js';
import { backstageCount, backstageEntities, providerServiceAccount, sleep, startBackstage, startControlPlane, startPostgres, stopAll, waitFor } from './support.js';

const LOCATION = 'playbill:e2e';
const MANAGED = ['backstage.io/managed-by-location', 'backstage.io/managed-by-origin-location'];

let cp;
let bs;

before(async () => {
  const postgres = await startPostgres();
  cp = await startControlPlane();
  cp.kubectl(['apply', '-f', path.join(ROOT, 'examples/catalog')]);
  // The bridge fixtures: Backstage names that Kubernetes cannot hold (Team_A, Orders_.DB, ...)
  // come back from Playbill's annotations.
  const imported = playbill(['import', 'tests/bridge/backstage']);
  cp.kubectl(['apply', '-f', '-'], { input: imported });
  // The backend connects as a ServiceAccount holding only the chart's provider ClusterRole.
  bs = await startBackstage({ postgres, provider: providerServiceAccount(cp), clusterId: 'e2e' });
});

after(async () => {
  if (process.env.KEEP_LOGS) console.log(bs?.log());
  await stopAll();
});

// Backstage's BuiltinKindsEntityProcessor sorts these lists (`value.sort()`) before it stores
// an entity, whatever gave it the entity; export keeps the order of the manifests.
const SORTED_BY_BACKSTAGE = ['providesApis', 'consumesApis', 'dependsOn', 'dependencyOf', 'memberOf', 'children', 'members'];

/** `playbill export -o json` of the cluster, as Backstage stores it: without the fields only the cluster has, those lists sorted. */
function exported() {
  const entities = JSON.parse(playbill(['export', '-o', 'json'], { env: { KUBECONFIG: cp.kubeconfig } }));
  for (const e of entities) {
    delete e.metadata.uid;
    delete e.metadata.etag;
    for (const f of SORTED_BY_BACKSTAGE) if (Array.isArray(e.spec[f])) e.spec[f].sort();
  }
  return entities;
}

const ref = (e) => `${e.kind}:${e.metadata.namespace}/${e.metadata.name}`.toLowerCase();

/** What Backstage shows, with its own uid/etag and the provider's location annotations taken off. */
function normalised(entity) {
  const e = structuredClone(entity);
  delete e.metadata.uid;
  delete e.metadata.etag;
  for (const k of MANAGED) {
    assert.equal(e.metadata.annotations?.[k], LOCATION, `${ref(e)}: ${k}`);
    delete e.metadata.annotations[k];
  }
  if (e.metadata.annotations && !Object.keys(e.metadata.annotations).length) delete e.metadata.annotations;
  return e;
}

/** Every difference between Backstage's catalog and playbill export, as lines; [] when equal. */
async function differences() {
  const want = new Map(exported().map((e) => [ref(e), e]));
  const got = new Map((await backstageEntities(bs.base)).map((e) => [ref(e), normalised(e)]));
  const out = [];
  for (const [r, e] of want) {
    const g = got.get(r);
    if (!g) out.push(`${r}: missing in Backstage`);
    else {
      try {
        assert.deepEqual(g, e);
      } catch (err) {
        out.push(`${r}: differs:\n${err.message}`);
      }
    }
  }
  for (const r of got.keys()) if (!want.has(r)) out.push(`${r}: in Backstage, not in the cluster`);
  return out;
}

/** Waits until Backstage equals the cluster; returns the milliseconds it took. */
async function converged(what, timeoutMs = 30_000) {
  const t0 = Date.now();
  let last = [];
  await waitFor(`Backstage to equal playbill export (${what})`, async () => {
    last = await differences();
    return last.length === 0;
  }, { timeoutMs, intervalMs: 100 }).catch((e) => {
    assert.fail(`${e.message}\n${last.slice(0, 10).join('\n')}`);
  });
  return Date.now() - t0;
}

test('every entity and every relation equals playbill export', async (t) => {
  const ms = await converged('initial catalog', 120_000);
  const n = (await backstageEntities(bs.base)).length;
  t.diagnostic(`${n} entities equal ${ms} ms after the backend answered (${Date.now() - bs.startedAt} ms after it started)`);
  assert.ok(n >= 60, `only ${n} entities`);
  const restored = (await backstageEntities(bs.base)).find((e) => e.metadata.name === 'Team_A');
  assert.ok(restored, 'the Backstage name Team_A came back from its annotation');
});

test('a moved Component, a deleted Group and a new User appear in Backstage', async (t) => {
  cp.kubectl(['-n', 'acme-shop', 'patch', 'component', 'cart-service', '--type', 'merge', '-p', '{"spec":{"system":"product-catalog","owner":"user:acme-org/bwong"}}']);
  t.diagnostic(`moved component: equal after ${await converged('moved component')} ms`);
  const cart = (await backstageEntities(bs.base)).find((e) => ref(e) === 'component:acme-shop/cart-service');
  assert.equal(cart.spec.system, 'product-catalog');
  assert.ok(cart.relations.some((r) => r.type === 'partOf' && r.targetRef === 'system:acme-shop/product-catalog'));

  cp.kubectl(['-n', 'acme-org', 'delete', 'group', 'team-catalog']);
  t.diagnostic(`deleted group: equal after ${await converged('deleted group')} ms`);
  assert.ok(!(await backstageEntities(bs.base)).some((e) => ref(e) === 'group:acme-org/team-catalog'));

  cp.kubectl(['apply', '-f', '-'], {
    input: JSON.stringify({
      apiVersion: 'catalog.playbill.dev/v1alpha1',
      kind: 'User',
      metadata: { name: 'new-hire', namespace: 'acme-org' },
      spec: { profile: { displayName: 'New Hire' }, memberOf: ['team-checkout'] },
    }),
  });
  t.diagnostic(`new user: equal after ${await converged('new user')} ms`);
  assert.ok((await backstageEntities(bs.base)).some((e) => ref(e) === 'user:acme-org/new-hire'));
});

test('an API server killed and brought back: the catalog never empties and ends equal to the cluster', async (t) => {
  const before = await backstageCount(bs.base);
  let min = before;
  let polls = 0;
  let polling = true;
  const poller = (async () => {
    while (polling) {
      try {
        min = Math.min(min, await backstageCount(bs.base));
        polls++;
      } catch (e) {
        assert.fail(`Backstage's API failed during the outage: ${e}`);
      }
      await sleep(100);
    }
  })();
  try {
    await cp.kill();
    await sleep(8_000);
    await cp.start();
    // A change made while the provider reconnects.
    cp.kubectl(['-n', 'acme-shop', 'patch', 'component', 'web-shop', '--type', 'merge', '-p', '{"spec":{"lifecycle":"deprecated"}}']);
    t.diagnostic(`after the restart: equal after ${await converged('after restart', 90_000)} ms`);
  } finally {
    polling = false;
    await poller;
  }
  t.diagnostic(`${polls} polls of the entity count during the outage: never below ${min} (before: ${before})`);
  assert.equal(min, before, 'Backstage lost entities while the API server was down');
  const log = bs.log();
  assert.match(log, /connection lost/, 'the lost connection is in the logs');
  assert.match(log, /connected again/, 'so is the reconnection');
});
