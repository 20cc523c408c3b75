// The mutation logic: full once every kind is listed, deltas after, full again after a relist,
// removal on delete, coalescing in the provider, and the list guard in the watcher.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Mirror, MANAGED_BY_LOCATION, MANAGED_BY_ORIGIN_LOCATION } from '../../src/mirror.js';
import { KindWatcher } from '../../src/watcher.js';
import { PlaybillEntityProvider } from '../../src/provider.js';
import { KINDS } from '../../src/mapping.js';

const AV = 'catalog.playbill.dev/v1alpha1';
let rv = 1;
const obj = (kind, ns, name, spec = {}, annotations = undefined) => ({
  apiVersion: AV,
  kind,
  metadata: { namespace: ns, name, resourceVersion: String(rv++), ...(annotations ? { annotations } : {}) },
  spec,
});
const group = (name, spec = { type: 'team' }, ann) => obj('Group', 'org', name, spec, ann);
const component = (name, spec) => obj('Component', 'shop', name, { type: 'service', lifecycle: 'production', owner: 'org/team-a', ...spec });

const LOC = 'playbill:test';
function listedMirror(items = {}) {
  const m = new Mirror({ location: LOC });
  for (const { kind } of KINDS) m.replaceKind(kind, items[kind] ?? []);
  return m;
}
const refs = (mutation) => (mutation.type === 'full' ? mutation.entities : mutation.added).map((d) => `${d.entity.kind}:${d.entity.metadata.namespace}/${d.entity.metadata.name}`).sort();
const silentLogger = { info() {}, warn() {}, error() {}, debug() {}, lines: [] };
const recordingLogger = () => {
  const lines = [];
  const at = (level) => (m) => lines.push(`${level} ${m}`);
  return { info: at('info'), warn: at('warn'), error: at('error'), debug: at('debug'), lines };
};

test('nothing until every kind is listed, then one full mutation with the provider location', () => {
  const m = new Mirror({ location: LOC });
  m.replaceKind('Group', [group('team-a')]);
  assert.equal(m.next(), null, 'six kinds are not listed yet');
  for (const { kind } of KINDS.filter((k) => k.kind !== 'Group' && k.kind !== 'Component')) m.replaceKind(kind, []);
  assert.equal(m.next(), null);
  m.replaceKind('Component', [component('web')]);
  const full = m.next();
  assert.equal(full.type, 'full');
  assert.deepEqual(refs(full), ['Component:shop/web', 'Group:org/team-a']);
  for (const d of full.entities) {
    assert.equal(d.locationKey, LOC);
    assert.equal(d.entity.metadata.annotations[MANAGED_BY_LOCATION], LOC);
    assert.equal(d.entity.metadata.annotations[MANAGED_BY_ORIGIN_LOCATION], LOC);
  }
  assert.equal(m.next(), null, 'nothing changed since');
});

test('changes become one delta: added for new and changed entities, removed for deleted ones', () => {
  const m = listedMirror({ Group: [group('team-a'), group('team-b')], Component: [component('web')] });
  m.next();
  m.upsert(component('web', { owner: 'org/team-b' }));
  m.upsert(obj('User', 'org', 'jdoe', { memberOf: ['team-a'] }));
  m.remove(group('team-b'));
  const d = m.next();
  assert.equal(d.type, 'delta');
  assert.deepEqual(refs(d), ['Component:shop/web', 'User:org/jdoe']);
  assert.equal(d.added.find((x) => x.entity.kind === 'Component').entity.spec.owner, 'org/team-b');
  assert.deepEqual(d.removed, [{ entityRef: 'group:org/team-b', locationKey: LOC }]);
  assert.equal(m.next(), null);
});

test('an update that does not change the entity gives no mutation', () => {
  const m = listedMirror({ Group: [group('team-a')] });
  m.next();
  const same = group('team-a'); // a new resourceVersion only (e.g. the operator wrote status)
  same.status = { conditions: [] };
  m.upsert(same);
  assert.equal(m.next(), null);
});

test('a renamed identity rewrites the references of other entities', () => {
  const m = listedMirror({ Group: [group('team-a')], Component: [component('web')] });
  m.next();
  // team-a now says its Backstage name is Team_A: the component's owner reads org/Team_A.
  m.upsert(group('team-a', { type: 'team' }, { 'catalog.playbill.dev/backstage-name': 'Team_A' }));
  const d = m.next();
  assert.deepEqual(refs(d), ['Component:shop/web', 'Group:org/Team_A']);
  assert.equal(d.added.find((x) => x.entity.kind === 'Component').entity.spec.owner, 'org/Team_A');
  assert.deepEqual(d.removed.map((r) => r.entityRef), ['group:org/team-a']);
});

test('a relist gives a full mutation holding what the list says', () => {
  const m = listedMirror({ Group: [group('team-a'), group('team-b')] });
  m.next();
  m.replaceKind('Group', [group('team-b'), group('team-c')]);
  const full = m.next();
  assert.equal(full.type, 'full');
  assert.deepEqual(refs(full), ['Group:org/team-b', 'Group:org/team-c']);
});

test('the provider coalesces a burst into one mutation, a window after its first change', async () => {
  const applied = [];
  const p = new PlaybillEntityProvider({ id: 'test', connection: { server: 'https://127.0.0.1:1' }, logger: silentLogger, coalesceMs: 60 });
  p.connection = { applyMutation: async (mu) => applied.push({ mu, at: Date.now() }) };
  const t0 = Date.now();
  for (const { kind } of KINDS) p.mirror.replaceKind(kind, kind === 'Group' ? [group('team-a')] : []);
  await new Promise((r) => setTimeout(r, 150));
  assert.equal(applied.length, 1);
  assert.equal(applied[0].mu.type, 'full');
  assert.ok(applied[0].at - t0 >= 55, 'waits for the window');
  // Ten changes spread over 40 ms, inside one window.
  for (let i = 0; i < 10; i++) {
    p.mirror.upsert(obj('User', 'org', `u${i}`, {}));
    await new Promise((r) => setTimeout(r, 4));
  }
  await new Promise((r) => setTimeout(r, 150));
  assert.equal(applied.length, 2, 'ten changes, one delta');
  assert.equal(applied[1].mu.type, 'delta');
  assert.equal(applied[1].mu.added.length, 10);
});

test('a failed applyMutation is retried as a full mutation', async () => {
  const applied = [];
  let fail = true;
  const p = new PlaybillEntityProvider({ id: 'test', connection: { server: 'https://127.0.0.1:1' }, logger: silentLogger, coalesceMs: 10 });
  p.connection = {
    applyMutation: async (mu) => {
      if (fail) {
        fail = false;
        throw new Error('database down');
      }
      applied.push(mu);
    },
  };
  for (const { kind } of KINDS) p.mirror.replaceKind(kind, []);
  p.mirror.next(); // the initial full went through earlier
  p.mirror.upsert(group('team-a'));
  await new Promise((r) => setTimeout(r, 1300));
  assert.equal(applied.length, 1);
  assert.equal(applied[0].type, 'full');
  assert.deepEqual(refs(applied[0]), ['Group:org/team-a']);
  await p.stop();
});

/** A fake API server for one kind: a queue of list answers and watches that end at once. */
function fakeClient(lists) {
  const calls = [];
  return {
    calls,
    async list() {
      calls.push('list');
      const next = lists.shift();
      if (next instanceof Error) throw next;
      if (!next) return new Promise(() => {}); // never answers: the test stops the watcher
      return { items: next, resourceVersion: String(rv++) };
    },
    async watch(_path, _rv, _onEvent, { signal }) {
      calls.push('watch');
      // A watch that expires at once: 410 Gone, so the watcher lists again.
      if (lists.length) {
        const e = new Error('Gone');
        e.code = 410;
        throw e;
      }
      await new Promise((r) => signal.addEventListener('abort', r, { once: true }));
    },
  };
}

test('a list that would empty a kind is believed only when a second list agrees', async () => {
  const m = listedMirror({ Group: [group('a'), group('b'), group('c'), group('d')] });
  m.next();
  const logger = recordingLogger();
  // After 410: the first relist is empty (an API server still starting), the second is complete.
  const client = fakeClient([[], [group('a'), group('b'), group('c'), group('d')]]);
  const w = new KindWatcher({ client, path: '/x', kind: 'Group', mirror: m, logger, confirmAfterMs: 30 });
  // Skip the initial list: the watcher starts watching a kind the mirror already holds.
  m.replaceKind('Group', [group('a'), group('b'), group('c'), group('d')]);
  m.next();
  w.start();
  await new Promise((r) => setTimeout(r, 200));
  await w.stop();
  assert.deepEqual(client.calls.slice(0, 2), ['list', 'list'], 'the empty list was checked by a second one');
  assert.equal(m.count('Group'), 4, 'the empty list was not applied');
  assert.ok(logger.lines.some((l) => l.includes('would remove 4 of 4')), logger.lines.join('\n'));

  // A real mass deletion: two lists agree, and it is applied.
  const m2 = listedMirror({ Group: [group('a'), group('b')] });
  m2.next();
  const w2 = new KindWatcher({ client: fakeClient([[], []]), path: '/x', kind: 'Group', mirror: m2, logger, confirmAfterMs: 30 });
  w2.start();
  await new Promise((r) => setTimeout(r, 200));
  await w2.stop();
  assert.equal(m2.count('Group'), 0);
  const full = m2.next();
  assert.equal(full.type, 'full');
  assert.deepEqual(refs(full), []);
});

test('failed lists change nothing and are retried with backoff; health is logged', async () => {
  const m = listedMirror({ Group: [group('a')] });
  m.next();
  const logger = recordingLogger();
  const down = new Error('connect ECONNREFUSED 127.0.0.1:6443');
  const client = fakeClient([down, down, [group('a'), group('b')]]);
  const w = new KindWatcher({ client, path: '/x', kind: 'Group', mirror: m, logger, backoffMinMs: 10, backoffMaxMs: 40 });
  w.start();
  await new Promise((r) => setTimeout(r, 300));
  await w.stop();
  assert.deepEqual(client.calls.slice(0, 4), ['list', 'list', 'list', 'watch']);
  assert.equal(m.count('Group'), 2);
  assert.ok(logger.lines.some((l) => /^warn Group: connection lost: connect ECONNREFUSED/.test(l)), logger.lines.join('\n'));
  assert.ok(logger.lines.some((l) => /^info Group: connected again/.test(l)), logger.lines.join('\n'));
  const full = m.next();
  assert.equal(full.type, 'full');
  assert.deepEqual(refs(full), ['Group:org/a', 'Group:org/b']);
});
