// Schema workflow: compose the subgraph SDLs listed in supergraph.yaml, and check that
// nothing is stale, broken or breaking.
//
//   node schema.mjs compose <sdl-dir> <out-dir>
//       compose <sdl-dir>/<name>.graphql for every subgraph of supergraph.yaml and write
//       <out-dir>/supergraph.graphql and <out-dir>/api.graphql (what clients see)
//   node schema.mjs breaking <old-api.graphql> <new-api.graphql> <CHANGELOG.md>
//       fail on breaking changes that CHANGELOG.md's "Unreleased" section does not name
//   node schema.mjs operations <api.graphql> <file>...
//       validate every operation in .graphql files and ```graphql blocks of .md files
//   node schema.mjs manifest <out.json> <file>...
//       write the persisted documents manifest (Apollo's format) of the operations in the
//       .graphql files: one body per operation with the fragments it spreads, id its SHA-256
import { readFileSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { buildSchema, parse, print, validate, visit, Source } from "graphql";
import { composeServices } from "@theguild/federation-composition";
import { diff, CriticalityLevel } from "@graphql-inspector/core";
import YAML from "yaml";

const [command, ...args] = process.argv.slice(2);
const root = new URL("../../", import.meta.url).pathname;

function fail(message) {
  console.error(message);
  process.exit(1);
}

function compose(sdlDir, outDir) {
  const config = YAML.parse(readFileSync(join(root, "supergraph.yaml"), "utf8"));
  const services = Object.entries(config.subgraphs).map(([name, sub]) => {
    const file = join(sdlDir, `${name}.graphql`);
    const sdl = readFileSync(file, "utf8");
    return { name, url: sub.routing_url, typeDefs: parse(new Source(sdl, file)) };
  });
  const result = composeServices(services);
  if (result.errors && result.errors.length > 0) {
    fail(`composition failed:\n${result.errors.map((e) => `  - ${e.message}`).join("\n")}`);
  }
  writeFileSync(join(outDir, "supergraph.graphql"), result.supergraphSdl.trimEnd() + "\n");
  writeFileSync(join(outDir, "api.graphql"), result.publicSdl.trimEnd() + "\n");
  console.log(`composed ${services.map((s) => s.name).join(", ")}`);
}

// The "## Unreleased" section of the changelog, up to the next "## " heading.
function unreleased(changelog) {
  const text = readFileSync(changelog, "utf8");
  const start = text.search(/^## Unreleased/m);
  if (start < 0) return "";
  const rest = text.slice(start + 1);
  const end = rest.search(/^## /m);
  return end < 0 ? rest : rest.slice(0, end);
}

async function breaking(oldFile, newFile, changelog) {
  const oldSchema = buildSchema(readFileSync(oldFile, "utf8"));
  const newSchema = buildSchema(readFileSync(newFile, "utf8"));
  const changes = await diff(oldSchema, newSchema);
  const declared = unreleased(changelog);
  const breaks = changes.filter((c) => c.criticality.level === CriticalityLevel.Breaking);
  const undeclared = breaks.filter((c) => !c.path || !declared.includes(`\`${c.path}\``));
  for (const c of changes) {
    console.log(`${c.criticality.level.padEnd(12)} ${c.message}`);
  }
  if (undeclared.length > 0) {
    fail(
      `breaking schema changes not declared in ${changelog} (list each path in backticks under "## Unreleased"):\n` +
        undeclared.map((c) => `  - \`${c.path}\`: ${c.message}`).join("\n"),
    );
  }
  console.log(`${changes.length} schema changes, ${breaks.length} breaking (all declared)`);
}

function operations(apiFile, files) {
  const schema = buildSchema(readFileSync(apiFile, "utf8"));
  let count = 0;
  const problems = [];
  for (const file of files) {
    const text = readFileSync(file, "utf8");
    const documents = file.endsWith(".md")
      ? [...text.matchAll(/```graphql\n([\s\S]*?)```/g)].map((m) => m[1])
      : [text];
    for (const doc of documents) {
      count += 1;
      try {
        for (const e of validate(schema, parse(new Source(doc, file)))) {
          problems.push(`${file}: ${e.message}`);
        }
      } catch (e) {
        problems.push(`${file}: ${e.message}`);
      }
    }
  }
  if (problems.length > 0) fail(`invalid operations:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
  console.log(`${count} operation documents are valid against the API schema`);
}

// The fragments an operation spreads, directly or through other fragments.
function usedFragments(node, fragments, seen = new Set()) {
  visit(node, {
    FragmentSpread(spread) {
      const name = spread.name.value;
      if (!seen.has(name) && fragments.has(name)) {
        seen.add(name);
        usedFragments(fragments.get(name), fragments, seen);
      }
    },
  });
  return seen;
}

function manifest(outFile, files) {
  const operations = [];
  for (const file of files) {
    const document = parse(new Source(readFileSync(file, "utf8"), file));
    const fragments = new Map(
      document.definitions.filter((d) => d.kind === "FragmentDefinition").map((d) => [d.name.value, d]),
    );
    for (const definition of document.definitions) {
      if (definition.kind !== "OperationDefinition") continue;
      const names = [...usedFragments(definition, fragments)].sort();
      const body = [definition, ...names.map((n) => fragments.get(n))].map(print).join("\n\n");
      operations.push({
        id: createHash("sha256").update(body).digest("hex"),
        name: definition.name ? definition.name.value : null,
        type: definition.operation,
        body,
      });
    }
  }
  operations.sort((a, b) => (a.name ?? "").localeCompare(b.name ?? "") || a.id.localeCompare(b.id));
  const text = JSON.stringify({ format: "apollo-persisted-query-manifest", version: 1, operations }, null, 2);
  writeFileSync(outFile, text + "\n");
  console.log(`${operations.length} persisted documents in ${outFile}`);
}

switch (command) {
  case "compose":
    compose(args[0], args[1]);
    break;
  case "breaking":
    await breaking(args[0], args[1], args[2]);
    break;
  case "operations":
    operations(args[0], args.slice(1));
    break;
  case "manifest":
    manifest(args[0], args.slice(1));
    break;
  default:
    fail("usage: schema.mjs compose|breaking|operations|manifest ...");
}
