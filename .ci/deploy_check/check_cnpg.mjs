// Validates the CloudNativePG custom resources (postgresql.cnpg.io/v1) in rendered manifests
// against the CloudNativePG CRDs' own OpenAPI schema, strictly.
//
// The schema comes from the npm package @kubernetes-models/cloudnative-pg 1.0.0, generated
// (kubernetes-models crd-generate) from the CRDs of the CloudNativePG 1.29.0 release manifest
// (cnpg-1.29.0.yaml). It carries the schema twice:
//  1. compiled JSON-schema validators (ajv): types, enums, required fields, patterns;
//  2. TypeScript interfaces of the same schema (ICluster, IScheduledBackup, ...).
// A CRD schema does not forbid unknown fields (the API server prunes them, or with
// `kubectl apply --validate=strict` refuses them). To refuse them here too, each resource is
// also written as a TypeScript object literal of its interface and type-checked with tsc:
// an unknown field anywhere is an excess-property error, a wrong type a type error.
//
// Usage: node check_cnpg.mjs FILE.yaml...   (prints one line per resource; exit 1 on failure)
// With --expect-failure, exit 0 only when every file has at least one invalid resource.

import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";
import * as cnpg from "@kubernetes-models/cloudnative-pg/postgresql.cnpg.io/v1";

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const API = "postgresql.cnpg.io/v1";

const args = process.argv.slice(2);
const expectFailure = args[0] === "--expect-failure";
const files = expectFailure ? args.slice(1) : args;

/** Every CloudNativePG resource in the files: { file, index, doc }. */
function resources(file) {
  return parseAllDocuments(readFileSync(file, "utf8"))
    .map((d, index) => ({ file, index, doc: d.toJS() }))
    .filter(({ doc }) => doc && doc.apiVersion === API);
}

function label({ file, doc }) {
  return `${file}: ${doc.kind}/${doc.metadata?.name}`;
}

/** Schema check (types, enums, required, patterns): null or the first errors. */
function schemaErrors({ doc }) {
  const Model = cnpg[doc.kind];
  if (!Model) return `no CloudNativePG kind ${doc.kind} in ${API}`;
  try {
    new Model(doc).validate();
    return null;
  } catch (e) {
    const details = (e.errors || []).slice(0, 3).map((x) => `${x.instancePath || "/"} ${x.message}`);
    return details.length ? details.join("; ") : String(e.message || e);
  }
}

/** Strict check with tsc: a Map from resource number to its type errors. */
function typeErrors(all) {
  const dir = mkdtempSync(join(tmpdir(), "cnpg-check-"));
  try {
    const kinds = [...new Set(all.map((r) => r.doc.kind))];
    const lines = [
      `import type { ${kinds.map((k) => `I${k}`).join(", ")} } from "@kubernetes-models/cloudnative-pg/postgresql.cnpg.io/v1";`,
    ];
    all.forEach((r, i) => {
      lines.push(`export const r${i}: I${r.doc.kind} = ${JSON.stringify(r.doc, null, 1)};`);
    });
    // Each resource's literal spans several lines: remember where each starts, to tell
    // which resource an error's line falls in (lines[0] is the import).
    const text = lines.join("\n");
    const starts = [];
    let line = 1;
    for (const chunk of lines) {
      starts.push(line);
      line += chunk.split("\n").length;
    }
    writeFileSync(join(dir, "resources.ts"), text + "\n");
    writeFileSync(
      join(dir, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          noEmit: true,
          module: "nodenext",
          moduleResolution: "nodenext",
          target: "es2022",
          skipLibCheck: true,
          types: [],
        },
        files: ["resources.ts"],
      }),
    );
    // Resolve the package from this folder's node_modules.
    writeFileSync(join(dir, "package.json"), JSON.stringify({ type: "module" }));
    symlinkSync(join(here, "node_modules"), join(dir, "node_modules"), "dir");
    const tsc = join(dirname(require.resolve("typescript/package.json")), "bin", "tsc");
    let output = "";
    try {
      execFileSync(process.execPath, [tsc, "-p", dir, "--pretty", "false"], { encoding: "utf8", stdio: "pipe" });
    } catch (e) {
      output = `${e.stdout || ""}${e.stderr || ""}`;
      if (!/error TS\d+/.test(output)) throw new Error(`tsc failed: ${output}`);
    }
    const errors = new Map();
    for (const m of output.matchAll(/resources\.ts\((\d+),\d+\): error (TS\d+: .*)/g)) {
      const at = Number(m[1]);
      // Resource i is lines[i + 1]; an error in the import line counts as -1.
      const i = starts.findLastIndex((s) => s <= at) - 1;
      const list = errors.get(i) || [];
      list.push(m[2]);
      errors.set(i, list);
    }
    return errors;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const all = files.flatMap(resources);
const byFile = new Map(files.map((f) => [f, []]));
const tsErrors = all.length ? typeErrors(all) : new Map();
if (tsErrors.has(-1)) {
  console.log(`FAIL the type check itself: ${tsErrors.get(-1).join("; ")}`);
  process.exit(1);
}
all.forEach((r, i) => {
  const problems = [];
  const schema = schemaErrors(r);
  if (schema) problems.push(`schema: ${schema}`);
  for (const t of tsErrors.get(i) || []) problems.push(`strict: ${t.length > 300 ? `${t.slice(0, 300)}...` : t}`);
  byFile.get(r.file).push(problems);
  if (!expectFailure) {
    console.log(problems.length ? `FAIL ${label(r)}: ${problems.join(" | ")}` : `ok   ${label(r)}: valid against the CloudNativePG 1.29.0 CRD schema (strict)`);
  } else if (problems.length) {
    console.log(`ok   broken copy refused: ${label(r)}: ${problems[0].slice(0, 200)}`);
  }
});

let failed = false;
for (const [file, results] of byFile) {
  if (!results.length) {
    console.log(`FAIL ${file}: no ${API} resources found`);
    failed = true;
  } else if (expectFailure && !results.some((p) => p.length)) {
    console.log(`FAIL ${file}: a broken copy was accepted: the CloudNativePG check is not strict`);
    failed = true;
  } else if (!expectFailure && results.some((p) => p.length)) {
    failed = true;
  }
}
process.exit(failed ? 1 : 0);
