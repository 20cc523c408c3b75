// Checks the README image against its source, and `playbill graph`'s DOT against a real Graphviz
// parser (the same WebAssembly build). `make check-graph-image` runs it with PLAYBILL_BIN set.

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { renderSvg, nodeTitles, edgeCount, decodeXml } from "./render.mjs";

const root = fileURLToPath(new URL("../../", import.meta.url));
const committedDot = readFileSync(`${root}docs/catalog-graph.dot`, "utf8");
const committedSvg = readFileSync(`${root}docs/catalog-graph.svg`, "utf8");
const playbill = process.env.PLAYBILL_BIN;

/** Node IDs and edge count of DOT as `playbill graph` writes it: one statement per line, IDs
 * double-quoted, and Graphviz unescapes nothing in an ID but `\"`. */
function dotShape(dot) {
  const unquote = (s) => s.replace(/\\"/g, '"');
  const nodes = [...dot.matchAll(/^ {2}"((?:[^"\\]|\\.)*)" \[/gm)].map((m) => unquote(m[1]));
  const edges = [...dot.matchAll(/^ {2}"(?:[^"\\]|\\.)*" -> /gm)].length;
  return { nodes, edges };
}

test("the committed SVG is what the committed DOT renders to now", async () => {
  const fresh = await renderSvg(committedDot);
  assert.ok(
    fresh === committedSvg,
    "docs/catalog-graph.svg is stale: run 'make graph-image' and commit the result",
  );
});

test("rendering is deterministic, so the committed SVG can be checked at all", async () => {
  const a = await renderSvg(committedDot);
  const b = await renderSvg(committedDot);
  assert.equal(a, b);
});

test("the SVG draws every node and edge of the DOT, and the example's dangling references", () => {
  const { nodes, edges } = dotShape(committedDot);
  assert.equal(nodes.length, 47, "45 entities and 2 missing targets");
  assert.deepEqual(nodeTitles(committedSvg).sort(), [...nodes].sort());
  assert.equal(edgeCount(committedSvg), edges);
  for (const missing of ["group:acme-org/team-mobile", "resource:acme-shop/legacy-mainframe"]) {
    assert.ok(nodes.includes(missing), missing);
  }
  assert.match(committedSvg, /<svg width="\d+pt" height="\d+pt"/);
});

test("playbill graph's escaping holds up in Graphviz's own parser", { skip: !playbill && "PLAYBILL_BIN is not set" }, async () => {
  // Dangling references may hold almost any text; Kubernetes names cannot, so only targets are
  // odd. (Not a line break: a reference holding a control character is refused at admission and
  // by the parser, so it draws no node.)
  const manifest = `
apiVersion: catalog.playbill.dev/v1alpha1
kind: Component
metadata: {name: web, namespace: shop}
spec:
  type: service
  lifecycle: production
  owner: 'Group:Other/Team.A'
  dependsOn:
    - 'component:quo"te'
    - 'component:back\\slash'
    - 'resource:other/a:b/c.d'
    - 'component:x<y>&z #1'
    - 'component:new\\nline'
    - 'Component:Shop/Web'
`;
  const dot = execFileSync(playbill, ["graph", "-f", "-", "-o", "dot"], { input: manifest, encoding: "utf8" });
  const svg = await renderSvg(dot);
  const { nodes, edges } = dotShape(dot);
  // A literal backslash-n stays a backslash and an n, not a line break.
  assert.deepEqual(nodes, [
    "component:shop/back\\\\slash",
    "component:shop/new\\\\nline",
    'component:shop/quo"te',
    "component:shop/web",
    "component:shop/x<y>&z #1",
    "group:other/team.a",
    "resource:other/a:b/c.d",
  ]);
  assert.deepEqual(nodeTitles(svg).sort(), [...nodes].sort());
  assert.equal(edges, 7);
  assert.equal(edgeCount(svg), 7);
  // Labels show the names as written.
  const texts = [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => decodeXml(m[1]));
  for (const name of ['quo"te', "back\\slash", "x<y>&z #1", "new\\nline", "a:b/c.d", "team.a"]) {
    assert.ok(texts.includes(name), `${name} not among the labels: ${texts.join(" | ")}`);
  }
});
