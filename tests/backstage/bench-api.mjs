// Load on the operator's catalog API: its own control plane with N generated entities
// (BENCH_N, default 5000), `playbill run` (PLAYBILL_BIN), then CONCURRENCY (default 50) clients
// asking, for DURATION_MS each, one kind of question: a by-name lookup, a filtered list, a
// 500-entity by-query page, facets, as a ServiceAccount through the API's RBAC layer. Prints
// p50/p99 latency per question, the API server's CPU time during the load, how long a change
// takes to show in the API, and the operator's RSS with the API on and (a second operator on
// the same catalog) off. `node bench-api.mjs`.

import { spawn } from 'node:child_process';
import { openSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const PROVIDER = path.resolve(here, '../../backstage/plugin-catalog-backend-module-playbill');
const { BIN } = await import(path.join(PROVIDER, 'test/playbill.js'));
const { freePort, providerServiceAccount, startControlPlane, stopAll, waitFor } = await import(path.join(PROVIDER, 'test/e2e/support.js'));

const N = Number(process.env.BENCH_N ?? 5000);
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 50);
const DURATION_MS = Number(process.env.DURATION_MS ?? 10_000);

const rssMiB = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;
/** CPU seconds (user + system) a process has used. */
const cpuSeconds = (pid) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
};

function catalog(n) {
  const namespaces = ['bench-a', 'bench-b', 'bench-c', 'bench-d'];
  const items = namespaces.map((name) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } }));
  const per = Math.ceil(n / namespaces.length);
  for (const ns of namespaces) {
    for (let g = 0; g < 20; g++) items.push({ apiVersion: 'catalog.playbill.dev/v1alpha1', kind: 'Group', metadata: { name: `team-${g}`, namespace: ns }, spec: { type: 'team', children: [] } });
    for (let i = 0; i < per - 20; i++) {
      items.push({
        apiVersion: 'catalog.playbill.dev/v1alpha1', kind: 'Component', metadata: { name: `svc-${i}`, namespace: ns },
        spec: { type: ['service', 'website', 'library'][i % 3], lifecycle: ['production', 'experimental'][i % 2], owner: `team-${i % 20}`, tags: [['java', 'go', 'rust'][i % 3]], dependsOn: i ? [`component:svc-${i - 1}`] : [], description: `Service ${i} of ${ns}, with a description of ordinary length.` },
      });
    }
  }
  return items;
}

const cp = await startControlPlane();
const pid = (p) => p.pid;
try {
  const items = catalog(N);
  for (let i = 0; i < items.length; i += 1000) cp.kubectl(['create', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: items.slice(i, i + 1000) }) });
  // Clients ask as a ServiceAccount that may list every kind cluster-wide, through the API's
  // RBAC layer (--api-auth=rbac, the default): TokenReview and SubjectAccessReviews, cached.
  const { token } = providerServiceAccount(cp);
  const headers = { authorization: `Bearer ${token}` };
  const port = await freePort();
  // BENCH_LOG=FILE keeps the operator's log (with PLAYBILL_LOG=playbill::catalog_api=debug,info it
  // says how long each snapshot took to build).
  const log = process.env.BENCH_LOG ? openSync(process.env.BENCH_LOG, 'w') : 'ignore';
  const op = spawn(BIN, ['run', '--listen', `127.0.0.1:${port}`, '--exit-on-stdin-close', '--leader-elect=false'], { env: { ...process.env, KUBECONFIG: cp.kubeconfig }, stdio: ['pipe', 'ignore', log] });
  const base = `http://127.0.0.1:${port}/api/catalog`;
  const count = items.length - 4;
  await waitFor('the API to hold the catalog', async () => (await (await fetch(`${base}/entities/by-query?limit=0`, { headers })).json()).totalItems === count, { timeoutMs: 600_000, intervalMs: 1000 });
  // Until the operator has written every status: the API server idle (under 0.1 CPU s per 2 s).
  for (let quiet = 0; quiet < 2;) {
    const c0 = cpuSeconds(cp.proc.pid);
    await new Promise((r) => setTimeout(r, 2000));
    quiet = cpuSeconds(cp.proc.pid) - c0 < 0.1 ? quiet + 1 : 0;
  }
  const rssBefore = rssMiB(pid(op));
  const questions = {
    'by-name': (i) => `${base}/entities/by-name/component/bench-${'abcd'[i % 4]}/svc-${i % 1000}`,
    'filtered list (kind=component, spec.lifecycle=production, metadata.tags=go, one namespace)': (i) => `${base}/entities?filter=kind=component,spec.lifecycle=production,metadata.tags=go,metadata.namespace=bench-${'abcd'[i % 4]}`,
    'by-query page of 500, ordered by name': (i) => `${base}/entities/by-query?limit=500&offset=${(i * 500) % 4000}&orderField=metadata.name,asc`,
    'facets (kind, spec.type, spec.lifecycle, metadata.tags)': () => `${base}/entity-facets?facet=kind&facet=spec.type&facet=spec.lifecycle&facet=metadata.tags`,
  };
  const apiServer = cp.proc.pid;
  const rows = [];
  for (const [name, url] of Object.entries(questions)) {
    const latencies = [];
    const cpu0 = cpuSeconds(apiServer);
    const end = Date.now() + DURATION_MS;
    let n = 0;
    await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
      while (Date.now() < end) {
        const i = n++;
        const t0 = performance.now();
        const res = await fetch(url(i), { headers });
        await res.arrayBuffer();
        if (!res.ok) throw new Error(`${url(i)}: ${res.status}`);
        latencies.push(performance.now() - t0);
      }
    }));
    latencies.sort((a, b) => a - b);
    const q = (p) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))].toFixed(1);
    rows.push({ name, requests: latencies.length, rps: (latencies.length / (DURATION_MS / 1000)).toFixed(0), p50: q(0.5), p99: q(0.99), controlPlaneCpu: (cpuSeconds(apiServer) - cpu0).toFixed(2) });
  }
  // From a change to the API showing it: a Component's owner changed with kubectl, then one
  // client asks its by-name until the answer holds the new owner, five times.
  const seen = [];
  for (let k = 0; k < 5; k++) {
    const owner = `team-${(k % 2) + 1}`;
    const t0 = performance.now();
    cp.kubectl(['-n', 'bench-a', 'patch', 'component', 'svc-5', '--type=merge', '-p', JSON.stringify({ spec: { owner } })]);
    const patched = performance.now();
    for (;;) {
      const e = await (await fetch(`${base}/entities/by-name/component/bench-a/svc-5`, { headers })).json();
      if (e.spec.owner === owner) break;
      await new Promise((r) => setTimeout(r, 5));
    }
    seen.push({ total: performance.now() - t0, afterPatch: performance.now() - patched });
  }
  const ms = (xs) => xs.map((x) => x.toFixed(0)).join(', ');
  console.log(`change to answer (kubectl patch of spec.owner until by-name shows it), ms after kubectl returned: ${ms(seen.map((x) => x.afterPatch))}; including kubectl: ${ms(seen.map((x) => x.total))}`);
  console.log(`${count} entities, ${CONCURRENCY} concurrent clients, ${DURATION_MS / 1000} s per question; operator ${BIN}`);
  console.log('| question | requests | req/s | p50 ms | p99 ms | control-plane CPU s |');
  console.log('|---|---|---|---|---|---|');
  for (const r of rows) console.log(`| ${r.name} | ${r.requests} | ${r.rps} | ${r.p50} | ${r.p99} | ${r.controlPlaneCpu} |`);
  console.log(`operator RSS: ${rssBefore.toFixed(0)} MiB before the load, ${rssMiB(pid(op)).toFixed(0)} MiB after`);
  op.kill('SIGTERM');
  // The same catalog without the API: a second operator with --serve-export=false, once it has
  // listed everything (statuses are already written, so it writes nothing).
  const offPort = await freePort();
  const off = spawn(BIN, ['run', '--listen', `127.0.0.1:${offPort}`, '--exit-on-stdin-close', '--leader-elect=false', '--serve-export=false'], { env: { ...process.env, KUBECONFIG: cp.kubeconfig }, stdio: ['pipe', 'ignore', 'ignore'] });
  // Until its metrics count every entity, then a few seconds more to settle.
  const counted = async () => {
    const text = await (await fetch(`http://127.0.0.1:${offPort}/metrics`)).text();
    return [...text.matchAll(/^playbill_entities\{[^}]*\} (\d+)/gm)].reduce((n, m) => n + Number(m[1]), 0);
  };
  await waitFor('the second operator to hold the catalog', async () => (await counted().catch(() => 0)) === count, { timeoutMs: 600_000, intervalMs: 1000 });
  await new Promise((r) => setTimeout(r, 5_000));
  console.log(`operator RSS with the API off (--serve-export=false), same catalog: ${rssMiB(pid(off)).toFixed(0)} MiB`);
  off.kill('SIGTERM');
} finally {
  await stopAll();
}
