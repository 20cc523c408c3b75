// The provider's figures for BENCHMARKS.md: with N catalog entities in a real API server and a
// real Backstage backend (the e2e test's setup), how long from `kubectl patch` moving a
// Component to another System until Backstage's catalog API shows the move (spec.system and the
// partOf relation), over TRIALS trials; the provider's share of it (patch until the mutation
// reaches applyMutation, measured by a second provider in this process); and the cold time until
// Backstage holds all N entities.
//
//   npm run bench                      N=5000 TRIALS=30
//   N=1000 TRIALS=20 STITCH_POLL_MS=100 npm run bench
//
// STITCH_POLL_MS sets Backstage's catalog.stitchingStrategy.pollingInterval (default: unset,
// Backstage's 1 s).

import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { PlaybillEntityProvider } from '../src/provider.js';
import { fromKubeconfig } from '../src/kube.js';
import { KUBECTL, backstageCount, startBackstage, startControlPlane, startPostgres, stopAll, tempDir, waitFor } from '../test/e2e/support.js';

const N = Number(process.env.N ?? 5000);
const TRIALS = Number(process.env.TRIALS ?? 30);
const STITCH_POLL_MS = process.env.STITCH_POLL_MS;
const AV = 'catalog.playbill.dev/v1alpha1';

/** A catalog of about n entities in 10 namespaces, shaped like an organisation's. */
function catalog(n) {
  const out = [];
  const nss = Array.from({ length: 10 }, (_, i) => `bench-${i}`);
  for (const ns of nss) out.push({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  const per = Math.ceil(n / nss.length);
  for (const ns of nss) {
    const groups = Math.max(2, Math.round(per * 0.04));
    const users = Math.round(per * 0.3);
    const systems = Math.max(2, Math.round(per * 0.04));
    const domains = 2;
    const apis = Math.round(per * 0.12);
    const resources = Math.round(per * 0.1);
    const components = per - groups - users - systems - domains - apis - resources;
    const add = (kind, name, spec) => out.push({ apiVersion: AV, kind, metadata: { name, namespace: ns }, spec });
    for (let i = 0; i < domains; i++) add('Domain', `domain-${i}`, { owner: `group-${i % groups}` });
    for (let i = 0; i < groups; i++) add('Group', `group-${i}`, { type: 'team', ...(i ? { parent: `group-${Math.floor((i - 1) / 3)}` } : {}), children: [] });
    for (let i = 0; i < users; i++) add('User', `user-${i}`, { memberOf: [`group-${i % groups}`] });
    for (let i = 0; i < systems; i++) add('System', `system-${i}`, { owner: `group-${i % groups}`, domain: `domain-${i % domains}` });
    for (let i = 0; i < apis; i++) add('API', `api-${i}`, { type: 'openapi', lifecycle: 'production', owner: `group-${i % groups}`, system: `system-${i % systems}`, definition: 'openapi: 3.0.0' });
    for (let i = 0; i < resources; i++) add('Resource', `resource-${i}`, { type: 'database', owner: `group-${i % groups}`, system: `system-${i % systems}` });
    for (let i = 0; i < components; i++) {
      add('Component', `component-${i}`, {
        type: 'service', lifecycle: 'production', owner: `group-${i % groups}`, system: `system-${i % systems}`,
        providesApis: apis ? [`api-${i % apis}`] : [], consumesApis: apis ? [`api-${(i + 1) % apis}`] : [],
        dependsOn: resources ? [`resource:resource-${i % resources}`] : [],
      });
    }
  }
  return out;
}

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
};

async function main() {
  const postgres = await startPostgres();
  const cp = await startControlPlane();
  const objects = catalog(N);
  const entities = objects.filter((o) => o.apiVersion === AV).length;
  const file = path.join(tempDir('playbill-bench-'), 'catalog.json');
  writeFileSync(file, JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }));
  const tLoad = Date.now();
  cp.kubectl(['create', '-f', file]);
  console.log(`created ${entities} entities in ${((Date.now() - tLoad) / 1000).toFixed(1)} s`);

  const bs = await startBackstage({
    postgres,
    provider: { kubeconfig: cp.kubeconfig },
    clusterId: 'bench',
    stitchPollMs: STITCH_POLL_MS ? Number(STITCH_POLL_MS) : undefined,
  });
  const answered = Date.now() - bs.startedAt;
  await waitFor(`Backstage to hold ${entities} entities`, async () => (await backstageCount(bs.base)) === entities, { timeoutMs: 900_000, intervalMs: 200 });
  const cold = Date.now() - bs.startedAt;
  // Every entity processed and stitched: the last component's relations are there.
  const byName = (kind, ns, name) => fetch(`${bs.base}/entities/by-name/${kind}/${ns}/${name}`).then((r) => (r.ok ? r.json() : undefined));
  await waitFor('the catalog to be stitched', async () => (await byName('component', 'bench-9', 'component-0'))?.relations?.some((r) => r.type === 'partOf'), { timeoutMs: 900_000, intervalMs: 200 });
  const stitched = Date.now() - bs.startedAt;
  console.log(`backend answered after ${answered} ms; ${entities} entities in Backstage after ${cold} ms; stitched after ${stitched} ms`);

  // A second provider in this process, with a connection that records when each mutation
  // arrives: the provider's own share of the latency (patch -> applyMutation).
  /** @type {Map<string, (at: number) => void>} */
  const waiting = new Map();
  const probe = new PlaybillEntityProvider({ id: 'probe', connection: fromKubeconfig(cp.kubeconfig), logger: { info() {}, warn() {}, error() {}, debug() {} } });
  await probe.connect({
    async applyMutation(m) {
      const at = Date.now();
      for (const d of m.type === 'full' ? m.entities : m.added) {
        const key = `${d.entity.metadata.namespace}/${d.entity.metadata.name}/${d.entity.spec.system}`;
        waiting.get(key)?.(at);
      }
    },
    async refresh() {},
  });
  await waitFor('the probe provider to list', () => probe.mirror.ready(), { timeoutMs: 120_000 });

  const times = [];
  const providerTimes = [];
  for (let i = 0; i < TRIALS; i++) {
    const ns = `bench-${i % 10}`;
    const name = `component-${i}`;
    const current = (await byName('component', ns, name)).spec.system;
    const target = current === 'system-0' ? 'system-1' : 'system-0';
    const applied = new Promise((res) => waiting.set(`${ns}/${name}/${target}`, res));
    const t0 = Date.now();
    const r = spawnSync(KUBECTL, ['--kubeconfig', cp.kubeconfig, '-n', ns, 'patch', 'component', name, '--type', 'merge', '-p', JSON.stringify({ spec: { system: target } })], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`kubectl patch: ${r.stderr}`);
    await waitFor(`${ns}/${name} to move to ${target}`, async () => {
      const e = await byName('component', ns, name);
      return e?.spec?.system === target && e.relations.some((x) => x.type === 'partOf' && x.targetRef === `system:${ns}/${target}`);
    }, { timeoutMs: 120_000, intervalMs: 20 });
    times.push(Date.now() - t0);
    providerTimes.push((await applied) - t0);
    waiting.clear();
    await new Promise((res) => setTimeout(res, 300 + Math.random() * 700));
  }
  const result = {
    entities,
    trials: TRIALS,
    stitchPollMs: STITCH_POLL_MS ?? 'default (1000)',
    patchToVisibleMs: { p50: pct(times, 50), p90: pct(times, 90), p99: pct(times, 99), min: Math.min(...times), max: Math.max(...times) },
    patchToMutationMs: { p50: pct(providerTimes, 50), p90: pct(providerTimes, 90), p99: pct(providerTimes, 99), min: Math.min(...providerTimes), max: Math.max(...providerTimes) },
    coldMs: { backendAnswered: answered, allEntities: cold, stitched },
    times,
    providerTimes,
  };
  await probe.stop();
  console.log(JSON.stringify(result, null, 2));
}

try {
  await main();
} finally {
  await stopAll();
}
