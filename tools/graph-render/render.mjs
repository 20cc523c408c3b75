// Renders Graphviz DOT (the output of `playbill graph -o dot`) to SVG with Graphviz compiled to
// WebAssembly (@viz-js/viz, pinned in package.json), so neither the README image nor its check
// needs a graphviz binary on the machine.
//
//   node render.mjs IN.dot OUT.svg     write the SVG
//   node render.mjs --check IN.dot SVG  exit 1 if SVG is not what IN.dot renders to now

import { readFileSync, writeFileSync } from "node:fs";
import { instance } from "@viz-js/viz";

/** Renders `dot` to SVG. Any message from Graphviz, warnings included, is an error: the DOT
 * that `playbill graph` writes should render cleanly, and a warning means it does not. */
export async function renderSvg(dot) {
  const viz = await instance();
  const result = viz.render(dot, { format: "svg", engine: "dot" });
  if (result.status !== "success" || result.errors.length > 0) {
    const messages = result.errors.map((e) => `${e.level ?? "error"}: ${e.message}`);
    throw new Error(`graphviz could not render the graph:\n${messages.join("\n")}`);
  }
  return result.output;
}

/** Decodes the XML character references Graphviz writes into SVG text (`&#45;` for `-`). */
export function decodeXml(text) {
  return text
    .replace(/&#(\d+);/g, (_, n) => String.fromCodePoint(Number(n)))
    .replace(/&#x([0-9a-f]+);/gi, (_, n) => String.fromCodePoint(parseInt(n, 16)))
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&amp;/g, "&");
}

/** The titles of the SVG's node groups: Graphviz titles each node with its DOT ID. */
export function nodeTitles(svg) {
  return [...svg.matchAll(/<g id="node\d+" class="node">\s*<title>([^<]*)<\/title>/g)].map((m) =>
    decodeXml(m[1]),
  );
}

export function edgeCount(svg) {
  return [...svg.matchAll(/<g id="edge\d+" class="edge">/g)].length;
}

async function main(argv) {
  const check = argv[0] === "--check";
  const [input, output] = check ? argv.slice(1) : argv;
  if (!input || !output) {
    console.error("usage: node render.mjs [--check] IN.dot OUT.svg");
    return 2;
  }
  const svg = await renderSvg(readFileSync(input, "utf8"));
  if (!check) {
    writeFileSync(output, svg);
    return 0;
  }
  if (readFileSync(output, "utf8") !== svg) {
    console.error(`${output} is not what ${input} renders to: run 'make graph-image' and commit it`);
    return 1;
  }
  return 0;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.exitCode = await main(process.argv.slice(2));
}
