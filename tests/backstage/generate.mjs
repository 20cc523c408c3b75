// Seeded random generator of Backstage catalogs for the differential test.
//
// generateCatalog(seed, options) returns Backstage entities (backstage.io/v1alpha1)
// that are valid for Backstage's schema and whose names are valid Kubernetes
// names, so that toPlaybill() converts them one to one. The same seed always
// gives the same catalog.
//
// What it exercises: several namespaces (including `default`), all seven kinds,
// names shared by entities of different kinds, references with and without kind
// and namespace, in mixed case, to existing entities, to missing ones
// (dangling), to entities of the wrong kind, to unknown kinds, names holding
// `:` or `/`, self references, the same target written twice in one list, and
// facts stated on both sides (Group children + parent, Group members + User
// memberOf, dependsOn + dependencyOf), entities in `default` that do not name
// their namespace. With `invalidRefs` it also writes
// references Backstage cannot parse (kindless dependsOn/dependencyOf, empty
// kind/namespace/name parts).

export const KINDS = ['Component', 'API', 'Resource', 'System', 'Domain', 'Group', 'User'];

/** Reference fields per kind: [field, list?, defaultKind|null, allowed target kinds]. */
export const FIELDS = {
  Component: [
    ['owner', false, 'Group', ['Group', 'User']],
    ['system', false, 'System', ['System']],
    ['subcomponentOf', false, 'Component', ['Component']],
    ['providesApis', true, 'API', ['API']],
    ['consumesApis', true, 'API', ['API']],
    ['dependsOn', true, null, ['Component', 'Resource']],
    ['dependencyOf', true, null, ['Component', 'Resource']],
  ],
  API: [
    ['owner', false, 'Group', ['Group', 'User']],
    ['system', false, 'System', ['System']],
  ],
  Resource: [
    ['owner', false, 'Group', ['Group', 'User']],
    ['system', false, 'System', ['System']],
    ['dependsOn', true, null, ['Component', 'Resource']],
    ['dependencyOf', true, null, ['Component', 'Resource']],
  ],
  System: [
    ['owner', false, 'Group', ['Group', 'User']],
    ['domain', false, 'Domain', ['Domain']],
  ],
  Domain: [
    ['owner', false, 'Group', ['Group', 'User']],
    ['subdomainOf', false, 'Domain', ['Domain']],
  ],
  Group: [
    ['parent', false, 'Group', ['Group']],
    ['children', true, 'Group', ['Group']],
    ['members', true, 'User', ['User']],
  ],
  User: [['memberOf', true, 'Group', ['Group']]],
};

const REQUIRED_REF = { Component: ['owner'], API: ['owner'], Resource: ['owner'], System: ['owner'], Domain: ['owner'] };
const NAMESPACES = ['default', 'payments', 'shop', 'org', 'platform', 'data'];
const WORDS = [
  'core', 'checkout', 'cart', 'billing', 'ledger', 'search', 'auth', 'team-a', 'team-b', 'ops',
  'jdoe', 'asmith', 'web', 'db', 'cache', 'queue', 'gateway', 'shop', 'payments', 'infra',
  'x', 'a1', 'svc-9', 'platform', 'data-lake', 'notify',
];
const UNKNOWN_KINDS = ['Template', 'Location', 'Widget'];

/** Small fast seeded PRNG (mulberry32). */
export function rng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const r = {
    next,
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
    chance: (p) => next() < p,
    pick: (arr) => arr[Math.floor(next() * arr.length)],
    shuffle: (arr) => {
      const out = [...arr];
      for (let i = out.length - 1; i > 0; i--) {
        const j = Math.floor(next() * (i + 1));
        [out[i], out[j]] = [out[j], out[i]];
      }
      return out;
    },
  };
  return r;
}

/** Random letter case: lower, Title, UPPER or mixed. */
function mangle(r, s, p) {
  if (!r.chance(p)) return s;
  switch (r.int(0, 2)) {
    case 0: return s.charAt(0).toUpperCase() + s.slice(1);
    case 1: return s.toUpperCase();
    default: return [...s].map((c) => (r.chance(0.5) ? c.toUpperCase() : c.toLowerCase())).join('');
  }
}

/**
 * Writes a reference to target {kind, namespace, name} from an entity in
 * holderNs, for a field whose default kind is defaultKind.
 */
function writeRef(r, target, holderNs, defaultKind, caseP) {
  const kindNeeded = !defaultKind || target.kind.toLowerCase() !== defaultKind.toLowerCase();
  const withKind = kindNeeded || r.chance(0.35);
  const withNs = target.namespace !== holderNs || r.chance(0.3);
  let s = mangle(r, target.name, caseP);
  if (withNs) s = `${mangle(r, target.namespace, caseP)}/${s}`;
  if (withKind) s = `${mangle(r, target.kind, caseP)}:${s}`;
  return s;
}

/** A reference Backstage cannot parse (for the targeted check). */
function invalidRef(r, defaultKind) {
  const forms = [':x', 'a:', 'group:/x', '/x', 'x/', 'a:b/', ':ns/x'];
  if (!defaultKind) forms.push('svc-a', 'payments/svc-a', 'Core');
  return r.pick(forms);
}

/**
 * options: { minEntities=5, maxEntities=80, invalidRefs=false (probability per
 * entity of getting one unparseable ref), caseP=0.3 }
 */
export function generateCatalog(seed, options = {}) {
  const { minEntities = 5, maxEntities = 80, invalidRefs = 0, caseP = 0.3 } = options;
  const r = rng(seed);
  const n = r.int(minEntities, maxEntities);
  const nsCount = r.int(1, 4);
  const namespaces = r.shuffle(NAMESPACES).slice(0, nsCount);
  // Small name pools per seed make collisions across kinds frequent.
  const namePool = r.shuffle(WORDS).slice(0, Math.max(3, Math.ceil(n / 3)));

  // 1. The entities (kind, namespace, name), all seven kinds present when n >= 7.
  const kinds = [];
  for (let i = 0; i < n; i++) kinds.push(i < KINDS.length ? KINDS[i] : r.pick(KINDS));
  const taken = new Set();
  const entities = [];
  for (const kind of r.shuffle(kinds)) {
    let name;
    let namespace;
    for (let tries = 0; ; tries++) {
      namespace = r.pick(namespaces);
      name = tries < 8 ? r.pick(namePool) : `${r.pick(namePool)}-${tries}`;
      const key = `${kind}:${namespace}/${name}`.toLowerCase();
      if (!taken.has(key)) {
        taken.add(key);
        break;
      }
    }
    entities.push(makeEntity(r, kind, namespace, name));
  }

  const byKind = new Map(KINDS.map((k) => [k, entities.filter((e) => e.kind === k)]));
  const id = (e) => ({ kind: e.kind, namespace: e.metadata.namespace, name: e.metadata.name });

  // Picks a target for a field of holder.
  function pickTarget(holder, allowed) {
    const x = r.next();
    if (x < 0.06) return id(holder); // self reference (of whatever kind the holder is)
    if (x < 0.62) {
      const pool = allowed.flatMap((k) => byKind.get(k));
      if (pool.length) return id(r.pick(pool));
    }
    if (x < 0.75) {
      // wrong kind: an existing entity of a kind the field does not allow
      const pool = KINDS.filter((k) => !allowed.includes(k)).flatMap((k) => byKind.get(k));
      if (pool.length) return id(r.pick(pool));
    }
    if (x < 0.8) {
      // same name and namespace as an existing entity, but another kind (maybe unknown)
      const e = r.pick(entities);
      return { kind: r.chance(0.5) ? r.pick(UNKNOWN_KINDS) : r.pick(allowed), namespace: e.metadata.namespace, name: e.metadata.name };
    }
    if (x < 0.84) {
      // names holding ':' or '/' (legal in a ref, never an existing entity)
      return { kind: r.pick(allowed), namespace: r.pick(namespaces), name: r.chance(0.5) ? `${r.pick(namePool)}:v2` : `${r.pick(namePool)}/sub` };
    }
    // dangling: an allowed kind, possibly another namespace, a name that may not exist
    return {
      kind: r.pick(allowed),
      namespace: r.chance(0.7) ? holder.metadata.namespace : r.pick([...namespaces, 'elsewhere']),
      name: r.chance(0.5) ? r.pick(namePool) : `ghost-${r.int(1, 9)}`,
    };
  }

  // 2. References.
  const mirrors = []; // both-sides facts to write on the target too
  for (const e of entities) {
    const ns = e.metadata.namespace;
    for (const [field, list, defaultKind, allowed] of FIELDS[e.kind]) {
      const required = REQUIRED_REF[e.kind]?.includes(field);
      if (list) {
        const count = r.chance(0.35) ? 0 : r.int(1, 4);
        const values = [];
        for (let i = 0; i < count; i++) {
          const t = pickTarget(e, allowed);
          values.push(writeRef(r, t, ns, defaultKind, caseP));
          if (r.chance(0.08)) values.push(writeRef(r, t, ns, defaultKind, caseP)); // same target again
          mirrors.push({ holder: e, field, target: t });
        }
        if (values.length || e.kind === 'Group' || e.kind === 'User' || r.chance(0.2)) e.spec[field] = values;
      } else if (required || r.chance(0.6)) {
        const t = pickTarget(e, allowed);
        e.spec[field] = writeRef(r, t, ns, defaultKind, caseP);
        mirrors.push({ holder: e, field, target: t });
      }
    }
    if (e.kind === 'Group' && !e.spec.children) e.spec.children = [];
    if (e.kind === 'User' && !e.spec.memberOf) e.spec.memberOf = [];
  }

  // 3. Both-sides facts: state some of them on the target as well, in another spelling.
  const find = (t) =>
    entities.find(
      (e) => e.kind.toLowerCase() === t.kind.toLowerCase() && e.metadata.namespace === t.namespace.toLowerCase() && e.metadata.name === t.name.toLowerCase(),
    );
  const MIRROR = {
    'Group.parent': ['Group', 'children'],
    'Group.children': ['Group', 'parent'],
    'Group.members': ['User', 'memberOf'],
    'User.memberOf': ['Group', 'members'],
    'Component.dependsOn': [null, 'dependencyOf'],
    'Component.dependencyOf': [null, 'dependsOn'],
    'Resource.dependsOn': [null, 'dependencyOf'],
    'Resource.dependencyOf': [null, 'dependsOn'],
  };
  for (const { holder, field, target } of mirrors) {
    const m = MIRROR[`${holder.kind}.${field}`];
    if (!m || !r.chance(0.5)) continue;
    const other = find(target);
    if (!other || (m[0] && other.kind !== m[0])) continue;
    if (!m[0] && !['Component', 'Resource'].includes(other.kind)) continue;
    const [, , defaultKind] = FIELDS[other.kind].find(([f]) => f === m[1]);
    const ref = writeRef(r, id(holder), other.metadata.namespace, defaultKind, caseP);
    if (m[1] === 'parent') {
      if (other.spec.parent === undefined) other.spec.parent = ref;
    } else {
      (other.spec[m[1]] ??= []).push(ref);
    }
  }

  // 4. Unparseable references, only when asked for.
  if (invalidRefs > 0) {
    for (const e of entities) {
      if (!r.chance(invalidRefs)) continue;
      const [field, list, defaultKind] = r.pick(FIELDS[e.kind]);
      const bad = invalidRef(r, defaultKind);
      if (list) (e.spec[field] ??= []).splice(r.int(0, e.spec[field]?.length ?? 0), 0, bad);
      else e.spec[field] = bad;
    }
  }

  // 5. Backstage's and Playbill's default namespace: leave it out sometimes.
  for (const e of entities) {
    if (e.metadata.namespace === 'default' && r.chance(0.3)) delete e.metadata.namespace;
  }

  return r.shuffle(entities);
}

function makeEntity(r, kind, namespace, name) {
  const metadata = { name, namespace };
  if (r.chance(0.3)) metadata.title = `${name} ${kind}`;
  if (r.chance(0.3)) metadata.description = `The ${name} ${kind.toLowerCase()}.`;
  if (r.chance(0.2)) metadata.tags = r.shuffle(['java', 'rust', 'tier-1', 'c++', 'team:a']).slice(0, r.int(1, 3));
  if (r.chance(0.1)) metadata.links = [{ url: `https://example.com/${name}`, title: 'Docs' }];
  const spec = {};
  switch (kind) {
    case 'Component':
      spec.type = r.pick(['service', 'website', 'library']);
      spec.lifecycle = r.pick(['experimental', 'production', 'deprecated']);
      break;
    case 'API':
      spec.type = r.pick(['openapi', 'grpc', 'graphql']);
      spec.lifecycle = r.pick(['production', 'experimental']);
      spec.definition = 'openapi: 3.0.0\n';
      break;
    case 'Resource':
      spec.type = r.pick(['database', 's3-bucket', 'queue']);
      break;
    case 'System':
    case 'Domain':
      if (r.chance(0.3)) spec.type = 'product';
      break;
    case 'Group':
      spec.type = r.pick(['team', 'business-unit']);
      if (r.chance(0.2)) spec.profile = { displayName: name.toUpperCase() };
      break;
    case 'User':
      if (r.chance(0.3)) spec.profile = { displayName: name, email: `${name}@example.com` };
      break;
  }
  return { apiVersion: 'backstage.io/v1alpha1', kind, metadata, spec };
}

/** The Playbill manifest for a Backstage entity (docs/reference.md#backstage-metadata-in-spec). */
export function toPlaybill(entity) {
  const { name, namespace, title, description, tags, links } = entity.metadata;
  const spec = { ...entity.spec };
  if (title !== undefined) spec.title = title;
  if (description !== undefined) spec.description = description;
  if (tags !== undefined) spec.tags = tags;
  if (links !== undefined) spec.links = links;
  return {
    apiVersion: 'catalog.playbill.dev/v1alpha1',
    kind: entity.kind,
    // No namespace: `playbill resolve` puts it in `default`, as Backstage does.
    metadata: namespace === undefined ? { name } : { name, namespace },
    spec,
  };
}
