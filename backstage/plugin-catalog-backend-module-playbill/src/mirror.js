// What one cluster holds, and the mutations that bring Backstage's catalog to it. Pure: the
// watchers feed it objects, the provider asks it for the next mutation.
//
// - Nothing is given to Backstage until every kind has been listed once; then a `full`
//   mutation with every entity.
// - Every later list of a kind (after 410 Gone or a reconnect that needed one) makes the next
//   mutation `full` again, so Backstage drops whatever the watch missed.
// - Otherwise a `delta`: `added` holds the entities that are new or whose mapping changed,
//   `removed` the entities that are gone. One mutation covers every change since the last one;
//   the provider asks for it a short window after the first change (coalescing bursts).
// - A change to an object's Backstage identity (name or namespace annotations), and any
//   object added or removed, can change how other objects' references read (export writes the
//   target's Backstage name), so those recompute every entity; other changes recompute only
//   the changed objects.

import { API_VERSION, backstageIdentity, entityRef, isCatalogObject, objectKey, refKey, toEntity, KINDS } from './mapping.js';

/** The key the mapping's identities are kept under (the object's canonical reference). */
const idKey = (/** @type {any} */ o) => refKey(o.kind ?? '', o.metadata?.namespace ?? 'default', o.metadata?.name ?? '');

/**
 * @typedef {import('./mapping.js').BackstageEntity} BackstageEntity
 * @typedef {{ entity: BackstageEntity, locationKey: string }} DeferredEntity
 * @typedef {{ type: 'full', entities: DeferredEntity[] } | { type: 'delta', added: DeferredEntity[], removed: { entityRef: string, locationKey: string }[] }} Mutation
 */

export const MANAGED_BY_LOCATION = 'backstage.io/managed-by-location';
export const MANAGED_BY_ORIGIN_LOCATION = 'backstage.io/managed-by-origin-location';

export class Mirror {
  /** @param {{ location: string, kinds?: string[] }} opts `location`: `playbill:<cluster id>`, the locationKey and managed-by location. */
  constructor({ location, kinds = KINDS.map((k) => k.kind) }) {
    this.location = location;
    this.kinds = kinds;
    /** @type {Map<string, Map<string, any>>} objects per kind, by objectKey */
    this.objects = new Map(kinds.map((k) => [k, new Map()]));
    /** @type {Set<string>} */
    this.listed = new Set();
    this.fullPending = true;
    this.recomputeAll = true;
    /** @type {Set<string>} objectKeys changed since the last mutation */
    this.dirty = new Set();
    /** @type {Map<string, { ref: string, entity: BackstageEntity, json: string }>} by objectKey, the entity each object maps to now */
    this.entities = new Map();
    /** @type {Map<string, {namespace: string, name: string}>} every object's Backstage identity, by idKey */
    this.ids = new Map();
    /** @type {Map<string, string>} what Backstage was last given: entityRef -> JSON */
    this.applied = new Map();
    /** @type {() => void} */
    this.onChange = () => {};
  }

  count(/** @type {string} */ kind) {
    return this.objects.get(kind)?.size ?? 0;
  }

  isListed(/** @type {string} */ kind) {
    return this.listed.has(kind);
  }

  /** Whether every kind has been listed, so the mirror holds the whole catalog. */
  ready() {
    return this.listed.size === this.kinds.length;
  }

  /** How many held objects of `kind` a list of `items` would remove. */
  removedBy(/** @type {string} */ kind, /** @type {any[]} */ items) {
    const keep = new Set(items.map(objectKey));
    let n = 0;
    for (const key of this.objects.get(kind)?.keys() ?? []) if (!keep.has(key)) n++;
    return n;
  }

  /** A complete list of one kind replaces what the mirror holds of it; the next mutation is full. */
  replaceKind(/** @type {string} */ kind, /** @type {any[]} */ items) {
    const held = this.objects.get(kind);
    if (!held) throw new Error(`unknown kind ${kind}`);
    held.clear();
    for (const o of items) {
      // List items carry no kind or apiVersion; the collection says what they are.
      const obj = { ...o, kind, apiVersion: o.apiVersion ?? API_VERSION };
      held.set(objectKey(obj), obj);
    }
    this.listed.add(kind);
    this.fullPending = true;
    this.recomputeAll = true;
    this.onChange();
  }

  upsert(/** @type {any} */ o) {
    const held = this.objects.get(o?.kind);
    if (!held) return;
    const key = objectKey(o);
    const before = held.get(key);
    held.set(key, o);
    const id = backstageIdentity(o);
    const known = this.ids.get(idKey(o));
    if (!before || !known || known.namespace !== id.namespace || known.name !== id.name) {
      // New, or its Backstage identity changed: other entities' references may read differently.
      this.recomputeAll = true;
    }
    this.ids.set(idKey(o), id);
    this.dirty.add(key);
    this.onChange();
  }

  remove(/** @type {any} */ o) {
    const held = this.objects.get(o?.kind);
    if (!held) return;
    if (held.delete(objectKey(o))) {
      this.ids.delete(idKey(o));
      this.recomputeAll = true;
      this.onChange();
    }
  }

  /** Whether there is something to give Backstage. */
  pending() {
    return this.ready() && (this.fullPending || this.recomputeAll || this.dirty.size > 0);
  }

  /** Maps the objects that need it; returns the objectKeys whose entity may have changed. */
  recompute() {
    /** @type {(key: string) => any} */
    let lookup;
    /** @type {string[]} */
    let keys;
    if (this.recomputeAll) {
      const all = [...this.objects.values()].flatMap((m) => [...m.values()]).filter(isCatalogObject);
      this.ids = new Map(all.map((o) => [idKey(o), backstageIdentity(o)]));
      keys = all.map(objectKey);
      const present = new Set(keys);
      for (const key of this.entities.keys()) if (!present.has(key)) this.entities.delete(key);
      const byKey = new Map(all.map((o) => [objectKey(o), o]));
      lookup = (key) => byKey.get(key);
    } else {
      keys = [...this.dirty];
      lookup = (key) => {
        const o = this.objects.get(key.slice(0, key.indexOf('/')))?.get(key);
        return o && isCatalogObject(o) ? o : undefined;
      };
    }
    const ids = this.ids;
    for (const key of keys) {
      const o = lookup(key);
      if (!o) {
        this.entities.delete(key);
        continue;
      }
      const entity = this.decorate(toEntity(o, ids));
      this.entities.set(key, { ref: entityRef(entity), entity, json: JSON.stringify(entity) });
    }
    this.recomputeAll = false;
    this.dirty.clear();
  }

  /** The entity with the annotations that tie it to this provider's location. */
  decorate(/** @type {BackstageEntity} */ e) {
    e.metadata.annotations = { ...e.metadata.annotations, [MANAGED_BY_LOCATION]: this.location, [MANAGED_BY_ORIGIN_LOCATION]: this.location };
    return e;
  }

  /**
   * The mutation that brings Backstage to what the mirror holds, or null when there is none
   * (not every kind listed yet, or nothing changed). Records it as applied.
   * @returns {Mutation | null}
   */
  next() {
    if (!this.pending()) return null;
    this.recompute();
    /** @type {Map<string, { entity: BackstageEntity, json: string }>} */
    const now = new Map();
    for (const { ref, entity, json } of this.entities.values()) now.set(ref, { entity, json });
    const deferred = (/** @type {BackstageEntity} */ entity) => ({ entity, locationKey: this.location });
    if (this.fullPending) {
      this.fullPending = false;
      this.applied = new Map([...now].map(([ref, { json }]) => [ref, json]));
      return { type: 'full', entities: [...now.values()].map(({ entity }) => deferred(entity)) };
    }
    const added = [];
    const removed = [];
    for (const [ref, { entity, json }] of now) {
      if (this.applied.get(ref) !== json) {
        added.push(deferred(entity));
        this.applied.set(ref, json);
      }
    }
    for (const ref of [...this.applied.keys()]) {
      if (!now.has(ref)) {
        removed.push({ entityRef: ref, locationKey: this.location });
        this.applied.delete(ref);
      }
    }
    if (!added.length && !removed.length) return null;
    return { type: 'delta', added, removed };
  }
}
