// The alert rules of the chart (k8s/telemq/rules/telemq-alerts.yaml):
//
//   node tests/observability/check_rules.mjs
//
// 1. `promtool check rules`: the file is a valid Prometheus rule file.
// 2. Every alert has a `for:`, a severity label (critical or warning) and
//    summary and description annotations.
// 3. `promtool test rules tests/observability/alerts_test.yaml`: the unit
//    tests pass, and they hold, for every alert, a case where it fires and
//    one where it stays silent (an alert_rule_test with exp_alerts: []).
// Exit 77 (ctest skip) when promtool is not installed.
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const YAML = createRequire(path.join(repo, "tools/package.json"))("yaml");
const promtool = path.join(repo, "tools/prometheus/bin/promtool");
if (!existsSync(promtool)) {
  console.log("SKIP: promtool is not installed (scripts/install-deps puts it in tools/prometheus/bin)");
  process.exit(77);
}
const rulesFile = path.join(repo, "k8s/telemq/rules/telemq-alerts.yaml");
const testsFile = path.join(repo, "tests/observability/alerts_test.yaml");
const problems = [];

const run = (args) => {
  const r = spawnSync(promtool, args, { encoding: "utf8", cwd: repo });
  return { ok: r.status === 0, out: `${r.stdout}${r.stderr}`.trim() };
};
const check = run(["check", "rules", rulesFile]);
if (!check.ok) problems.push(`promtool check rules:\n${check.out}`);
else console.log(`ok: ${check.out.split("\n").pop().trim()} (promtool check rules)`);

const alerts = YAML.parse(readFileSync(rulesFile, "utf8"))
  .groups.flatMap((g) => g.rules)
  .filter((r) => r.alert);
for (const a of alerts) {
  if (!a.for) problems.push(`${a.alert}: no for:`);
  if (!["critical", "warning"].includes(a.labels?.severity)) problems.push(`${a.alert}: severity ${a.labels?.severity}`);
  for (const k of ["summary", "description"]) if (!a.annotations?.[k]) problems.push(`${a.alert}: no ${k} annotation`);
}

const fires = new Set();
const silent = new Set();
for (const t of YAML.parse(readFileSync(testsFile, "utf8")).tests) {
  for (const c of t.alert_rule_test ?? []) (c.exp_alerts?.length ? fires : silent).add(c.alertname);
}
for (const a of alerts) {
  if (!fires.has(a.alert)) problems.push(`${a.alert}: no unit test where it fires`);
  if (!silent.has(a.alert)) problems.push(`${a.alert}: no unit test where it stays silent`);
}
for (const name of new Set([...fires, ...silent])) {
  if (!alerts.some((a) => a.alert === name)) problems.push(`alerts_test.yaml tests ${name}, which is no alert`);
}

const test = run(["test", "rules", testsFile]);
if (!test.ok) problems.push(`promtool test rules:\n${test.out}`);
else console.log(`ok: ${alerts.length} alerts, each fires and stays silent in its cases (promtool test rules)`);

for (const p of problems) console.log(`FAIL: ${p}`);
console.log(problems.length === 0 ? "all checks passed" : `${problems.length} problem(s)`);
process.exit(problems.length === 0 ? 0 : 1);
