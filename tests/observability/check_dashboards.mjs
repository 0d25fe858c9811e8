// The Grafana dashboards of the chart (k8s/telemq/dashboards/*.json):
//
//   node tests/observability/check_dashboards.mjs [--expect-invalid DIR]
//
// 1. Each dashboard type-checks as Grafana's dashboard model: the JSON
//    becomes `const dashboard: Json<Dashboard> = <the JSON>;` and tsc
//    --strict --noEmit checks it against the types of
//    @grafana/grafana-foundation-sdk (tools/package.json): unknown
//    properties (object literals get excess-property checks), wrong types,
//    missing required fields and values outside an enum all fail. Json<T>
//    only relaxes what JSON cannot spell: a string enum accepts its values
//    ("query" for VariableType.Query), and a panel target is the Prometheus
//    query model (prometheus.Dataquery) without its marker method.
// 2. The dashboards' own rules: unique uid and panel ids, every query on
//    the ${datasource} variable, a `datasource` variable of type
//    prometheus, panels inside the 24-column grid.
// 3. k8s/dashboards/ holds the same dashboards (links to the chart's files).
// 4. Every expression parses as PromQL: written, with the Grafana variables
//    replaced by sample values, as recording rules of a temporary rule file
//    that `promtool check rules` reads (tools/prometheus/bin/promtool).
// With --expect-invalid, each DIR/*.json must fail step 1 with the error that
// expected.json in its directory names (the proof that the type check
// rejects bad dashboards: tests/observability/invalid/).
// Exit 77 (ctest skip) when tsc or promtool is not installed.
import { spawnSync } from "node:child_process";
import { existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const chartDir = path.join(repo, "k8s/telemq/dashboards");
const linkDir = path.join(repo, "k8s/dashboards");
const tsc = path.join(repo, "tools/node_modules/typescript/bin/tsc");
const sdk = path.join(repo, "tools/node_modules/@grafana/grafana-foundation-sdk/dist");
const promtool = path.join(repo, "tools/prometheus/bin/promtool");
for (const [what, p] of [["typescript", tsc], ["@grafana/grafana-foundation-sdk", sdk], ["promtool", promtool]]) {
  if (!existsSync(p)) {
    console.log(`SKIP: ${what} is not installed (scripts/install-deps)`);
    process.exit(77);
  }
}

const args = process.argv.slice(2);
// --expect-invalid DIR: DIR/*.json but expected.json.
const invalidDir = args[0] === "--expect-invalid" ? path.resolve(args[1] ?? "") : null;
const expectInvalid = invalidDir
  ? readdirSync(invalidDir).filter((f) => f.endsWith(".json") && f !== "expected.json").sort().map((f) => path.join(invalidDir, f))
  : [];
if (invalidDir && expectInvalid.length === 0) {
  console.error(`no dashboards in ${invalidDir}`);
  process.exit(1);
}
const problems = [];
const work = mkdtempSync(path.join(os.tmpdir(), "telemq-dashboards."));
process.on("exit", () => rmSync(work, { recursive: true, force: true }));

// ------------------------------------------------------------ type check
const kPrelude = `import type { Dashboard } from "@grafana/grafana-foundation-sdk/dashboard";
import type { Dataquery as AnyQuery } from "@grafana/grafana-foundation-sdk/cog";
import type { Dataquery as PromQuery } from "@grafana/grafana-foundation-sdk/prometheus";
type IsAny<T> = 0 extends 1 & T ? true : false;
type Json<T> = IsAny<T> extends true
  ? any
  : T extends AnyQuery
    ? Json<Omit<PromQuery, "_implementsDataqueryVariant">>
    : T extends string
      ? \`\${T}\`
      : T extends object
        ? { [K in keyof T]: Json<T[K]> }
        : T;
`;

// Type-checks `files`; returns tsc's diagnostics per file (empty: clean).
function typeCheck(files) {
  const dir = mkdtempSync(path.join(work, "tsc."));
  const sources = files.map((f, i) => {
    const ts = path.join(dir, `d${i}.ts`);
    writeFileSync(ts, `${kPrelude}export const dashboard: Json<Dashboard> = ${readFileSync(f, "utf8")};\n`);
    return ts;
  });
  writeFileSync(
    path.join(dir, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: {
        strict: true,
        noEmit: true,
        target: "es2022",
        module: "es2022",
        moduleResolution: "bundler",
        skipLibCheck: true,
        types: [],
        baseUrl: dir,
        paths: { "@grafana/grafana-foundation-sdk/*": [path.join(sdk, "*/index.d.ts")] },
      },
      files: sources,
    }),
  );
  const r = spawnSync(process.execPath, [tsc, "-p", path.join(dir, "tsconfig.json"), "--pretty", "false"], { encoding: "utf8" });
  if (r.status !== 0 && !/error TS/.test(r.stdout)) {
    console.error(`tsc failed to run: ${r.stdout}${r.stderr}`);
    process.exit(1);
  }
  const out = new Map(files.map((f) => [f, []]));
  for (const line of r.stdout.split("\n")) {
    const m = /d(\d+)\.ts\((\d+),\d+\): (error TS\d+: .*)/.exec(line);
    if (m) out.get(files[Number(m[1])]).push(`line ${Number(m[2]) - kPrelude.split("\n").length + 1}: ${m[3]}`);
  }
  return out;
}

if (invalidDir) {
  // Each must fail with the error its directory's expected.json names.
  for (const [file, errors] of typeCheck(expectInvalid)) {
    const expectFile = path.join(path.dirname(file), "expected.json");
    const want = existsSync(expectFile) ? JSON.parse(readFileSync(expectFile, "utf8"))[path.basename(file)] : undefined;
    const rel = path.relative(repo, file);
    if (!want) problems.push(`${rel}: no entry in ${path.relative(repo, expectFile)}`);
    else if (errors.length === 0) problems.push(`${rel}: accepted, but it is not a valid dashboard`);
    else if (!errors.some((e) => e.includes(want))) problems.push(`${rel}: rejected without "${want}":\n  ${errors.join("\n  ")}`);
    else console.log(`ok: rejected ${rel}: ${errors.find((e) => e.includes(want)).slice(0, 160)}`);
  }
  finish();
}

const names = readdirSync(chartDir).filter((f) => f.endsWith(".json")).sort();
const files = names.map((f) => path.join(chartDir, f));
if (names.length === 0) problems.push("no dashboards in k8s/telemq/dashboards");
for (const [file, errors] of typeCheck(files)) {
  for (const e of errors) problems.push(`${path.basename(file)}: ${e}`);
  if (errors.length === 0) console.log(`ok: ${path.basename(file)} type-checks as a Grafana dashboard`);
}

// ------------------------------------------------------ dashboard rules
const uids = new Set();
const exprs = [];  // {where, expr}
for (const file of files) {
  const name = path.basename(file);
  const d = JSON.parse(readFileSync(file, "utf8"));
  if (uids.has(d.uid)) problems.push(`${name}: uid ${d.uid} used twice`);
  uids.add(d.uid);
  const vars = d.templating?.list ?? [];
  const ds = vars.find((v) => v.name === "datasource");
  if (ds?.type !== "datasource" || ds?.query !== "prometheus") problems.push(`${name}: no Prometheus datasource variable`);
  const ids = new Set();
  const panels = (d.panels ?? []).flatMap((p) => [p, ...(p.panels ?? [])]);
  for (const p of panels) {
    const where = `${name}: panel ${p.id} "${p.title}"`;
    if (ids.has(p.id)) problems.push(`${where}: id used twice`);
    ids.add(p.id);
    const g = p.gridPos;
    if (!g || g.x < 0 || g.w < 1 || g.x + g.w > 24) problems.push(`${where}: outside the 24-column grid`);
    if (p.type === "row") continue;
    if (!p.targets?.length) problems.push(`${where}: no query`);
    for (const t of [p, ...(p.targets ?? [])]) {
      if (t.datasource?.uid !== "${datasource}") problems.push(`${where}: not on the \${datasource} variable`);
    }
    for (const t of p.targets ?? []) exprs.push({ where: `${where} ${t.refId}`, expr: t.expr });
  }
  for (const v of vars.filter((v) => v.type === "query")) {
    if (v.datasource?.uid !== "${datasource}") problems.push(`${name}: variable ${v.name} not on the \${datasource} variable`);
  }
}

// ------------------------------------------------------- k8s/dashboards
const linked = existsSync(linkDir) ? readdirSync(linkDir).filter((f) => f.endsWith(".json")).sort() : [];
if (linked.join(",") !== names.join(",")) problems.push(`k8s/dashboards holds ${linked} instead of ${names}`);
for (const f of linked) {
  const p = path.join(linkDir, f);
  if (!lstatSync(p).isSymbolicLink() || realpathSync(p) !== realpathSync(path.join(chartDir, f))) {
    problems.push(`k8s/dashboards/${f} is not a link to k8s/telemq/dashboards/${f}`);
  }
}

// ------------------------------------------------------ PromQL syntax
// Grafana's variables, replaced as Grafana would before sending a query.
export const kGrafanaSamples = { __rate_interval: "1m", __interval: "1m", __range: "1h", datasource: "prometheus", namespace: "telemetry", group: "telemq-collectors" };
const expand = (e) => e.replace(/\$\{(\w+)\}|\$(\w+)/g, (m, a, b) => kGrafanaSamples[a ?? b] ?? m);
const ruleFile = path.join(work, "dashboard-queries.yaml");
writeFileSync(
  ruleFile,
  `groups:\n  - name: dashboard-queries\n    rules:\n${exprs.map((e, i) => `      - record: dashboard_query_${i}\n        expr: ${JSON.stringify(expand(e.expr))}\n`).join("")}`,
);
const check = spawnSync(promtool, ["check", "rules", ruleFile], { encoding: "utf8" });
if (check.status !== 0) {
  problems.push(`promtool rejects dashboard queries:\n${check.stdout}${check.stderr}`);
  for (const m of `${check.stdout}${check.stderr}`.matchAll(/dashboard_query_(\d+)/g)) problems.push(`  ${exprs[Number(m[1])].where}`);
} else {
  console.log(`ok: ${exprs.length} dashboard queries parse as PromQL (promtool check rules)`);
}
finish();

function finish() {
  for (const p of problems) console.log(`FAIL: ${p}`);
  console.log(problems.length === 0 ? "all checks passed" : `${problems.length} problem(s)`);
  process.exit(problems.length === 0 ? 0 : 1);
}
