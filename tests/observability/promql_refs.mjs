// What the dashboards and alert rules ask Prometheus for, checked against
// what the programs export.
//
// expressions(repo)        every PromQL expression of the chart's
//                          dashboards (panel targets, query variables) and
//                          of rules/telemq-alerts.yaml, with where it is
// selectors(expr)          the vector selectors of one expression: metric
//                          name and label matchers
// parseExposition(text)    the metric families of a Prometheus text
//                          exposition: name -> {type, series: [labels]}
// unknownReferences(exprs, families)
//                          one line per reference that the families do not
//                          satisfy: an unknown metric (a histogram's
//                          _bucket/_sum/_count resolve to it), a label no
//                          series of it carries, a label value (= "literal")
//                          that no series of it has, a grouping label (by,
//                          on, ...) that none of the series it reads carry
//
// Labels Prometheus attaches to a target (job, namespace, pod, ...) and the
// series it synthesises per target (up) are not in any exposition: they are
// not checked. Neither are regular-expression matchers (a 5xx status need
// not have happened) nor values with a Grafana $variable.
//
//   node tests/observability/promql_refs.mjs --self-test
//                          proves on fixed inputs that unknown metrics,
//                          labels and label values are reported
import { readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const kTargetLabels = new Set(["job", "instance", "namespace", "pod", "service", "container", "endpoint", "node"]);
export const kSynthesised = new Set(["up", "scrape_duration_seconds", "scrape_samples_scraped"]);

const kKeywords = new Set(["and", "or", "unless", "bool", "offset", "inf", "nan", "start", "end"]);
const kGrouping = new Set(["by", "without", "on", "ignoring", "group_left", "group_right"]);

export function expressions(repo) {
  const require = createRequire(path.resolve(repo, "tools/package.json"));
  const YAML = require("yaml");
  const out = [];
  const dir = path.join(repo, "k8s/telemq/dashboards");
  for (const f of readdirSync(dir).filter((f) => f.endsWith(".json")).sort()) {
    const d = JSON.parse(readFileSync(path.join(dir, f), "utf8"));
    for (const p of (d.panels ?? []).flatMap((p) => [p, ...(p.panels ?? [])])) {
      for (const t of p.targets ?? []) out.push({ where: `${f} panel "${p.title}" ${t.refId}`, expr: t.expr });
    }
    for (const v of d.templating?.list ?? []) {
      if (v.type !== "query") continue;
      const q = typeof v.query === "string" ? v.query : v.query?.query;
      // label_values(SELECTOR, label): the selector and the label it lists.
      const m = /^label_values\((.*),\s*(\w+)\)$/.exec(q ?? "");
      if (!m) throw new Error(`${f}: variable ${v.name}: not a label_values(selector, label) query: ${q}`);
      out.push({ where: `${f} variable ${v.name}`, expr: m[1], label: m[2] });
    }
  }
  const rules = YAML.parse(readFileSync(path.join(repo, "k8s/telemq/rules/telemq-alerts.yaml"), "utf8"));
  for (const g of rules.groups) {
    for (const r of g.rules) out.push({ where: `rule ${r.alert ?? r.record}`, expr: r.expr });
  }
  return out;
}

function tokenize(expr) {
  const tokens = [];
  let i = 0;
  while (i < expr.length) {
    const c = expr[i];
    if (/\s/.test(c)) {
      i++;
    } else if (c === '"' || c === "'" || c === "`") {
      let j = i + 1;
      let value = "";
      while (j < expr.length && expr[j] !== c) {
        if (expr[j] === "\\" && c !== "`") value += expr[++j];
        else value += expr[j];
        j++;
      }
      if (j >= expr.length) throw new Error(`unterminated string in ${expr}`);
      tokens.push({ kind: "string", value });
      i = j + 1;
    } else if (/[0-9]/.test(c) || (c === "." && /[0-9]/.test(expr[i + 1] ?? ""))) {
      const m = /^[0-9.]+(?:[eE][+-]?[0-9]+)?[a-zA-Z0-9_.]*/.exec(expr.slice(i));
      tokens.push({ kind: "number", value: m[0] });
      i += m[0].length;
    } else if (/[a-zA-Z_:$]/.test(c)) {
      const m = /^\$?\{?[a-zA-Z_:][a-zA-Z0-9_:]*\}?/.exec(expr.slice(i));
      tokens.push({ kind: m[0].startsWith("$") ? "variable" : "ident", value: m[0] });
      i += m[0].length;
    } else {
      const m = /^(=~|!~|!=|==|>=|<=|[-+*/%^<>=!{}()[\],@])/.exec(expr.slice(i));
      if (!m) throw new Error(`unexpected '${c}' in ${expr}`);
      tokens.push({ kind: "punct", value: m[0] });
      i += m[0].length;
    }
  }
  return tokens;
}

// The labels of the grouping clauses of `expr`: by, without, on, ignoring,
// group_left, group_right.
export function groupingLabels(expr) {
  const t = tokenize(expr);
  const out = [];
  for (let i = 0; i < t.length; i++) {
    if (t[i].kind !== "ident" || !kGrouping.has(t[i].value) || t[i + 1]?.value !== "(") continue;
    for (i += 2; i < t.length && t[i].value !== ")"; i++) if (t[i].kind === "ident") out.push(t[i].value);
  }
  return out;
}

export function selectors(expr) {
  const t = tokenize(expr);
  const out = [];
  const at = (i) => t[i] ?? { kind: "end", value: "" };
  const matchers = (i) => {
    // t[i] is "{": name op "value" [, ...] }
    const list = [];
    i++;
    while (at(i).value !== "}") {
      const name = at(i);
      const op = at(i + 1);
      const value = at(i + 2);
      if (name.kind !== "ident" || !["=", "!=", "=~", "!~"].includes(op.value) || value.kind !== "string") {
        throw new Error(`bad label matcher near '${name.value} ${op.value} ${value.value}' in ${expr}`);
      }
      list.push({ name: name.value, op: op.value, value: value.value });
      i += 3;
      if (at(i).value === ",") i++;
    }
    return [list, i + 1];
  };
  for (let i = 0; i < t.length; ) {
    const tok = t[i];
    if (tok.value === "[") {
      while (i < t.length && t[i].value !== "]") i++;
      i++;
    } else if (tok.kind === "ident" && kGrouping.has(tok.value) && at(i + 1).value === "(") {
      while (i < t.length && t[i].value !== ")") i++;
      i++;
    } else if (tok.kind === "ident" && (at(i + 1).value === "(" || ["by", "without"].includes(at(i + 1).value))) {
      i++;  // a function or aggregation (`sum by (x) (...)`)
    } else if (tok.kind === "ident" && kKeywords.has(tok.value.toLowerCase())) {
      i++;
    } else if (tok.kind === "ident") {
      let list = [];
      let next = i + 1;
      if (at(next).value === "{") [list, next] = matchers(next);
      out.push({ metric: tok.value, matchers: list });
      i = next;
    } else if (tok.value === "{") {
      const [list, next] = matchers(i);
      const name = list.find((m) => m.name === "__name__" && m.op === "=");
      if (!name) throw new Error(`a selector without a metric name in ${expr}`);
      out.push({ metric: name.value, matchers: list.filter((m) => m !== name) });
      i = next;
    } else {
      i++;
    }
  }
  return out;
}

export function parseExposition(text, families = new Map()) {
  for (const line of text.split("\n")) {
    let m;
    if ((m = /^# TYPE (\S+) (\S+)$/.exec(line))) {
      if (!families.has(m[1])) families.set(m[1], { type: m[2], series: [] });
    } else if (line && !line.startsWith("#")) {
      m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? \S+$/.exec(line);
      if (!m) throw new Error(`not a sample line: ${line}`);
      const labels = {};
      for (const l of (m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2].replace(/\\(.)/g, (x, c) => (c === "n" ? "\n" : c));
      const family = familyOf(families, m[1]);
      if (!family) throw new Error(`sample ${m[1]} before its # TYPE line`);
      family.series.push({ name: m[1], labels });
    }
  }
  return families;
}

// The family a series name belongs to: itself, or a histogram's or
// summary's for its _bucket, _sum, _count series.
function familyOf(families, name) {
  if (families.has(name)) return families.get(name);
  const m = /^(.*)_(bucket|sum|count)$/.exec(name);
  const f = m && families.get(m[1]);
  if (f && (f.type === "histogram" || (f.type === "summary" && m[2] !== "bucket"))) return f;
  return undefined;
}

// `unchecked` (optional) collects the references whose labels could not be
// checked: their family had no series in the scrape (an error counter
// before any error). The metric itself is still checked.
export function unknownReferences(exprs, families, unchecked = []) {
  const problems = [];
  for (const { where, expr, label } of exprs) {
    let sels;
    try {
      sels = selectors(expr);
    } catch (e) {
      problems.push(`${where}: ${e.message}`);
      continue;
    }
    if (sels.length === 0) problems.push(`${where}: no metric in ${expr}`);
    // A grouping label must be on some series of some metric the
    // expression reads.
    const empty = sels.filter((s) => !kSynthesised.has(s.metric) && familyOf(families, s.metric)?.series.length === 0);
    for (const s of empty) unchecked.push(`${where}: ${s.metric}`);
    const carried = new Set(
      sels.flatMap((s) => (familyOf(families, s.metric)?.series ?? []).filter((x) => x.name === s.metric).flatMap((x) => Object.keys(x.labels))),
    );
    for (const name of empty.length > 0 ? [] : new Set(groupingLabels(expr))) {
      if (!kTargetLabels.has(name) && !carried.has(name)) problems.push(`${where}: no series it reads has a label ${name} to group by`);
    }
    for (const s of sels) {
      if (kSynthesised.has(s.metric)) continue;
      const family = familyOf(families, s.metric);
      if (!family) {
        problems.push(`${where}: ${s.metric} is exported by no program`);
        continue;
      }
      if (family.series.length === 0) continue;  // in `unchecked`
      const series = family.series.filter((x) => x.name === s.metric);
      const asked = [...s.matchers.map((m) => m.name), ...(label ? [label] : [])];
      for (const name of asked) {
        if (kTargetLabels.has(name)) continue;
        if (!series.some((x) => name in x.labels)) problems.push(`${where}: no series of ${s.metric} has a label ${name}`);
      }
      for (const m of s.matchers) {
        if (m.op !== "=" || kTargetLabels.has(m.name) || m.value.includes("$")) continue;
        if (!series.some((x) => m.name in x.labels)) continue;  // reported above
        if (!series.some((x) => x.labels[m.name] === m.value)) problems.push(`${where}: no series of ${s.metric} has ${m.name}="${m.value}"`);
      }
    }
  }
  return problems;
}

// ------------------------------------------------------------- self-test
if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv[2] === "--self-test") {
  const families = parseExposition(`# HELP telemq_x_requests_total Requests.
# TYPE telemq_x_requests_total counter
telemq_x_requests_total{api="produce"} 3
# HELP telemq_x_latency_seconds Latency.
# TYPE telemq_x_latency_seconds histogram
telemq_x_latency_seconds_bucket{api="fetch",le="+Inf"} 1
telemq_x_latency_seconds_sum{api="fetch"} 0.5
telemq_x_latency_seconds_count{api="fetch"} 1
# HELP telemq_x_errors_total Errors.
# TYPE telemq_x_errors_total counter
# HELP telemq_x_lag Lag.
# TYPE telemq_x_lag gauge
telemq_x_lag{group="g",partition="0"} 7
`);
  const cases = [
    // [expression, expected problem (substring) or null when it must pass]
    ['sum by (api) (rate(telemq_x_requests_total{namespace=~"$namespace", api="produce"}[$__rate_interval]))', null],
    ["histogram_quantile(0.99, sum by (api, le) (rate(telemq_x_latency_seconds_bucket[5m])))", null],
    ["rate(telemq_x_latency_seconds_sum[5m]) / rate(telemq_x_latency_seconds_count[5m])", null],
    ['up{job=~".+-broker-headless"} == 0', null],
    ['telemq_x_lag > 1000 and delta(telemq_x_lag{group="g"}[10m]) > 0 unless on (pod) telemq_x_lag offset 5m', null],
    ['{__name__="telemq_x_lag", partition="0"}', null],
    ["sum(rate(telemq_x_request_total[5m]))", "telemq_x_request_total is exported by no program"],
    ["rate(telemq_x_requests_total_bucket[5m])", "telemq_x_requests_total_bucket is exported by no program"],
    ["telemq_x_lag_count", "telemq_x_lag_count is exported by no program"],
    ['telemq_x_requests_total{api="fetch"}', 'no series of telemq_x_requests_total has api="fetch"'],
    ['telemq_x_lag{topic="t"}', "no series of telemq_x_lag has a label topic"],
    ['sum(telemq_x_lag) / sum(telemq_x_missing{group="g"})', "telemq_x_missing is exported by no program"],
    ["sum by (topic) (telemq_x_lag)", "no series it reads has a label topic to group by"],
    ["sum without (partition) (telemq_x_lag) / on (group, pod) group_left (api) sum by (group, pod) (telemq_x_requests_total)", null],
    ["sum by (api, error) (rate(telemq_x_requests_total[5m]))", "no series it reads has a label error to group by"],
  ];
  let failed = 0;
  for (const [expr, want] of cases) {
    const got = unknownReferences([{ where: "case", expr }], families);
    const ok = want === null ? got.length === 0 : got.length === 1 && got[0].includes(want);
    if (!ok) failed++;
    console.log(`${ok ? "ok" : "FAIL"}: ${expr}\n    ${want === null ? "accepted" : `want: ${want}`}; got: ${got.join("; ") || "none"}`);
  }
  const unchecked = [];
  const none = unknownReferences([{ where: "empty", expr: 'sum by (api, error) (rate(telemq_x_errors_total{api="x"}[5m]))' }], families, unchecked);
  const emptyOk = none.length === 0 && unchecked.length === 1;
  if (!emptyOk) failed++;
  console.log(`${emptyOk ? "ok" : "FAIL"}: a family without series: labels unchecked (${unchecked.join("; ")}), problems: ${none.join("; ") || "none"}`);
  const label = unknownReferences([{ where: "variable", expr: "telemq_x_lag", label: "topic" }], families);
  if (label.length !== 1) failed++;
  console.log(`${label.length === 1 ? "ok" : "FAIL"}: label_values(telemq_x_lag, topic): ${label.join("; ") || "none"}`);
  // The real expressions all parse.
  const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
  const all = expressions(repo);
  for (const e of all) {
    try {
      if (selectors(e.expr).length === 0) throw new Error("no metric");
    } catch (err) {
      failed++;
      console.log(`FAIL: ${e.where}: ${err.message}`);
    }
  }
  console.log(`${all.length} dashboard and rule expressions parsed`);
  console.log(failed === 0 ? "all checks passed" : `${failed} check(s) failed`);
  process.exit(failed === 0 ? 0 : 1);
}
