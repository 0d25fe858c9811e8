// Chart-to-process conformance: the workloads the Helm chart renders, run
// as real processes from the build directory, must form a working stack.
//
//   node tests/k8s/conformance.mjs --bin telemq-broker=PATH --bin telemq=PATH \
//        --bin telemq-streamer=PATH --bin telemq-collector=PATH --bin telemq-gateway=PATH
//
// 1. `helm template` renders the chart with its default values (release
//    `telemq`, namespace `telemetry`).
// 2. Every StatefulSet and Deployment becomes pods: as many as its replicas
//    (or its autoscaler's minReplicas), named as Kubernetes names them
//    (`telemq-broker-0`, ...). Each pod's container runs with exactly the
//    rendered command, args and environment, after these substitutions
//    only:
//    * the downward API: metadata.name, metadata.namespace, status.podIP
//      (127.0.0.1); `$(VAR)` references expanded as the kubelet does;
//    * every containerPort of every pod gets an ephemeral port on
//      127.0.0.1; a DNS name of the cluster (a StatefulSet pod's
//      <pod>.<service>[.<ns>[.svc[.<domain>]]], a Service's
//      <service>[.<ns>...]) followed by :PORT becomes 127.0.0.1 and that
//      pod's local port, a bare one 127.0.0.1; in a pod's own config files
//      and flags a `...port` key whose value is one of its containerPorts
//      becomes its local port, and 0.0.0.0 becomes 127.0.0.1;
//    * volume mount paths become per-pod directories: a ConfigMap volume's
//      keys written there as files (with the rewriting above), any other
//      volume an empty directory; the image's /usr/bin/<program> is the
//      build's, /usr/share/telemq/swagger-ui is tools/node_modules/swagger-ui-dist;
//    * brokers run in a UTS namespace of their own whose host name is the
//      pod name (`unshare --uts`, as root), so their ids come from the
//      StatefulSet ordinal the way they do in a cluster. Without root the
//      id is passed as --node-id instead, and the output says so.
//    Nothing else is changed: a flag or config key the chart passes that a
//    program does not know makes that program exit 2, and the test fails.
// 3. Every pod starts at once, as in a cluster (see "run" below). Every
//    rendered httpGet probe (startup, liveness, readiness) must
//    answer 200; `telemq cluster status` must show every broker up, each
//    with the id of its pod's ordinal at its pod's address, and a
//    controller; every gateway's /api/v1/gpus must list the whole
//    synthetic fleet of the streamer's source, and /docs must answer.
//    Then every pod's /metrics is scraped: each metric, label and label
//    value the chart's dashboards and alert rules ask for must be among
//    them (tests/observability/promql_refs.mjs).
// 4. SIGTERM to every process (apps first, then brokers): each must exit 0
//    within its pod's terminationGracePeriodSeconds.
// Every process started is killed on any exit path; the run is bounded
// (~2 minutes). Exit 77 (skip) when helm is not installed.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { expressions, parseExposition, unknownReferences } from "../observability/promql_refs.mjs";

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const require = createRequire(path.join(repo, "tools/package.json"));
const YAML = require("yaml");

const kRelease = "telemq";
const kNamespace = "telemetry";
const started = Date.now();
const kStartupBudgetMs = 75_000;
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)}s`;
const log = (msg) => console.log(`[${elapsed()}] ${msg}`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// --bin NAME=PATH: the build's programs, by the name the image installs them under.
const bins = {};
for (let i = 2; i < process.argv.length; i++) {
  if (process.argv[i] === "--bin") {
    const [name, file] = process.argv[++i].split("=");
    bins[name] = file;
  }
}
let helm = path.join(repo, "tools/k8s/bin/helm");
if (!existsSync(helm)) {
  const which = spawnSync("sh", ["-c", "command -v helm"], { encoding: "utf8" });
  helm = which.stdout.trim();
}
if (!helm) {
  console.log("SKIP: helm is not installed (scripts/install-deps puts it in tools/k8s/bin)");
  process.exit(77);
}

// ---------------------------------------------------------------- processes
const work = mkdtempSync(path.join(os.tmpdir(), "telemq-k8s-conformance."));
const procs = [];  // {pod, child, exited, code, signal, logFile}
let cleaned = false;
function killAll() {
  if (cleaned) return;
  cleaned = true;
  for (const p of procs) {
    if (p.exited) continue;
    try {
      process.kill(p.child.pid, "SIGKILL");
    } catch {}
  }
}
process.on("exit", () => {
  killAll();
  if (!process.env.KEEP_WORK) rmSync(work, { recursive: true, force: true });
});
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(sig, () => {
    console.error(`received ${sig}`);
    process.exit(1);
  });
}
function failWith(message) {
  console.error(`FAIL: ${message}`);
  for (const p of procs) {
    const text = existsSync(p.logFile) ? readFileSync(p.logFile, "utf8") : "";
    const tail = text.trim().split("\n").slice(-8).join("\n    ");
    console.error(`--- ${p.pod.name} (${p.exited ? `exited ${p.code ?? p.signal}` : "running"}):\n    ${tail}`);
  }
  process.exit(1);
}
// Safety net: whatever hangs, the test ends.
setTimeout(() => failWith("overall time limit (150 s) exceeded"), 150_000).unref();

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function httpGet(port, urlPath, timeoutMs = 2000) {
  try {
    const res = await fetch(`http://127.0.0.1:${port}${urlPath}`, { signal: AbortSignal.timeout(timeoutMs) });
    return { status: res.status, body: await res.text() };
  } catch (e) {
    return { status: 0, body: String(e.cause?.code ?? e.message) };
  }
}

// ------------------------------------------------------------------- render
const rendered = spawnSync(helm, ["template", kRelease, path.join(repo, "k8s/telemq"), "--namespace", kNamespace], {
  encoding: "utf8",
});
if (rendered.status !== 0) failWith(`helm template: ${rendered.stderr}`);
const docs = YAML.parseAllDocuments(rendered.stdout)
  .map((d) => d.toJS())
  .filter((d) => d);
const values = YAML.parse(spawnSync(helm, ["show", "values", path.join(repo, "k8s/telemq")], { encoding: "utf8" }).stdout);
const clusterDomain = values.clusterDomain;
const configMaps = Object.fromEntries(docs.filter((d) => d.kind === "ConfigMap").map((d) => [d.metadata.name, d.data]));
const services = docs.filter((d) => d.kind === "Service");
const hpas = docs.filter((d) => d.kind === "HorizontalPodAutoscaler");

// Pods of every workload, with a local port for each containerPort.
const pods = [];
for (const w of docs.filter((d) => d.kind === "StatefulSet" || d.kind === "Deployment")) {
  const hpa = hpas.find((h) => h.spec.scaleTargetRef.kind === w.kind && h.spec.scaleTargetRef.name === w.metadata.name);
  const replicas = w.spec.replicas ?? hpa?.spec.minReplicas ?? 1;
  const spec = w.spec.template.spec;
  if (spec.containers.length !== 1) failWith(`${w.metadata.name}: one container per pod expected`);
  for (let i = 0; i < replicas; i++) {
    // Deployment pods are <name>-<template hash>-<suffix>.
    const name = w.kind === "StatefulSet" ? `${w.metadata.name}-${i}` : `${w.metadata.name}-5d4f9c7b8-x${i}`;
    const container = spec.containers[0];
    const ports = {};  // containerPort -> local port
    for (const p of container.ports ?? []) ports[p.containerPort] = await freePort();
    pods.push({ name, workload: w, ordinal: i, spec, container, ports, labels: w.spec.template.metadata.labels, dir: path.join(work, name) });
  }
}

// DNS name -> pod, longest first so a pod's FQDN wins over a shorter prefix.
const dnsNames = [];
const suffixes = (base) => [base, `${base}.${kNamespace}`, `${base}.${kNamespace}.svc`, `${base}.${kNamespace}.svc.${clusterDomain}`];
for (const pod of pods) {
  if (pod.workload.kind !== "StatefulSet") continue;
  for (const name of suffixes(`${pod.name}.${pod.workload.spec.serviceName}`)) dnsNames.push({ name, pod, service: null });
}
for (const svc of services) {
  const selected = pods.filter((p) => Object.entries(svc.spec.selector ?? {}).every(([k, v]) => p.labels[k] === v));
  if (selected.length === 0) continue;
  for (const name of suffixes(svc.metadata.name)) dnsNames.push({ name, pod: selected[0], service: svc });
}
dnsNames.sort((a, b) => b.name.length - a.name.length);
const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

// The local port behind port `port` of a DNS entry (a Service port maps
// through its targetPort, by name or number, to a containerPort).
function localPortOf(entry, port) {
  let containerPort = port;
  if (entry.service) {
    const sp = entry.service.spec.ports.find((p) => p.port === port);
    if (!sp) return undefined;
    const target = sp.targetPort ?? sp.port;
    containerPort = typeof target === "string" ? entry.pod.container.ports.find((p) => p.name === target)?.containerPort : target;
  }
  return entry.pod.ports[containerPort];
}

const kImagePaths = [
  ["/usr/share/telemq/swagger-ui", path.join(repo, "tools/node_modules/swagger-ui-dist")],
];

// Rewrites one string of a pod's args or config files (see the header).
function rewrite(text, pod, mounts) {
  for (const entry of dnsNames) {
    text = text.replace(new RegExp(`(?<![\\w./-])${escape(entry.name)}:(\\d+)(?![\\w./-])`, "g"), (m, port) => {
      const local = localPortOf(entry, Number(port));
      if (local === undefined) failWith(`${pod.name}: ${m} names no port of ${entry.pod.name}`);
      return `127.0.0.1:${local}`;
    });
    text = text.replace(new RegExp(`(?<![\\w./-])${escape(entry.name)}(?![\\w./-])`, "g"), "127.0.0.1");
  }
  // Own listening ports: a `...port` key (config `port: N`, `http-port = N`,
  // flag `--http-port=N`) whose value is one of this pod's containerPorts.
  text = text.replace(/^(\s*(?:--)?[A-Za-z_-]*port\s*[:=]\s*)(\d+)(\s*)$/gm, (m, key, port, rest) =>
    pod.ports[port] !== undefined ? `${key}${pod.ports[port]}${rest}` : m,
  );
  text = text.replaceAll("0.0.0.0", "127.0.0.1");
  // One pass over every path (longest first), so a replacement is never
  // rewritten again (the work directory lies under /tmp, itself a mount).
  const paths = new Map([...mounts, ...kImagePaths]);
  const alternatives = [...paths.keys()].sort((a, b) => b.length - a.length).map(escape).join("|");
  return text.replace(new RegExp(`(?<![\\w.-])(${alternatives})(?=/|"|'|$|\\s)`, "gm"), (m) => paths.get(m));
}

function downward(pod, fieldPath) {
  switch (fieldPath) {
    case "metadata.name":
      return pod.name;
    case "metadata.namespace":
      return kNamespace;
    case "status.podIP":
      return "127.0.0.1";
    default:
      failWith(`${pod.name}: downward API field ${fieldPath} not supported by this test`);
  }
}

// $(VAR) as the kubelet expands it: defined variables only, $$ escapes.
function expand(text, env) {
  return text.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, name) => {
    if (m === "$$") return "$";
    return name in env ? env[name] : m;
  });
}

// Directories, config files, the command line and environment of a pod.
function prepare(pod) {
  const c = pod.container;
  mkdirSync(pod.dir, { recursive: true });
  const mounts = [];
  for (const vm of c.volumeMounts ?? []) {
    const local = path.join(pod.dir, "mounts", vm.name);
    mkdirSync(local, { recursive: true });
    mounts.push([vm.mountPath, local]);
  }
  for (const claim of pod.workload.spec.volumeClaimTemplates ?? []) {
    if (!(c.volumeMounts ?? []).some((vm) => vm.name === claim.metadata.name)) failWith(`${pod.name}: claim ${claim.metadata.name} not mounted`);
  }
  mounts.sort((a, b) => b[0].length - a[0].length);
  for (const vm of c.volumeMounts ?? []) {
    const volume = (pod.spec.volumes ?? []).find((v) => v.name === vm.name);
    if (!volume?.configMap) continue;
    const data = configMaps[volume.configMap.name];
    if (!data) failWith(`${pod.name}: ConfigMap ${volume.configMap.name} is not rendered`);
    const dir = mounts.find(([from]) => from === vm.mountPath)[1];
    for (const [key, content] of Object.entries(data)) writeFileSync(path.join(dir, key), rewrite(content, pod, mounts));
  }
  const env = {};
  for (const e of c.env ?? []) {
    if (e.value !== undefined) env[e.name] = expand(e.value, env);
    else if (e.valueFrom?.fieldRef) env[e.name] = downward(pod, e.valueFrom.fieldRef.fieldPath);
    else if (e.valueFrom?.configMapKeyRef) env[e.name] = configMaps[e.valueFrom.configMapKeyRef.name]?.[e.valueFrom.configMapKeyRef.key];
    else failWith(`${pod.name}: env ${e.name}: source not supported by this test`);
  }
  // The program is the image's; everything after it is rewritten.
  const [command, ...rest] = [...(c.command ?? []), ...(c.args ?? [])];
  const argv = [command, ...rest.map((a) => rewrite(expand(a, env), pod, mounts))];
  const program = path.basename(argv[0]);
  if (!argv[0].startsWith("/usr/bin/") || !bins[program]) failWith(`${pod.name}: command ${argv[0]} is not a program of the image`);
  argv[0] = bins[program];
  return { argv, env, program, mounts };
}

const canUnshare = process.getuid?.() === 0 && spawnSync("unshare", ["--uts", "true"]).status === 0;

function start(pod) {
  const { argv, env, program } = prepare(pod);
  pod.program = program;
  let cmd = argv;
  if (program === "telemq-broker") {
    if (canUnshare) {
      cmd = ["unshare", "--uts", "sh", "-c", 'hostname "$0" && exec "$@"', pod.name, ...argv];
    } else {
      cmd = [...argv, `--node-id=${pod.ordinal}`];
    }
  }
  const logFile = path.join(pod.dir, "out.log");
  const fd = openSync(logFile, "w");
  writeFileSync(path.join(pod.dir, "argv.json"), JSON.stringify({ cmd, env }, null, 2));
  const child = spawn(cmd[0], cmd.slice(1), { env: { ...process.env, ...env }, stdio: ["ignore", fd, fd] });
  const p = { pod, child, exited: false, code: null, signal: null, logFile };
  child.on("exit", (code, signal) => Object.assign(p, { exited: true, code, signal }));
  child.on("error", (e) => Object.assign(p, { exited: true, code: -1, signal: String(e) }));
  procs.push(p);
  log(`started ${pod.name}: ${argv.map((a) => (a.includes(" ") ? JSON.stringify(a) : a)).join(" ")}`);
}

// Fails as soon as a started process has exited (an unknown flag or config
// key exits 2 at once).
function checkAlive() {
  for (const p of procs) {
    if (p.exited) failWith(`${p.pod.name} exited (${p.code ?? p.signal}) while the stack should be running`);
  }
}

async function until(what, fn, budgetMs = kStartupBudgetMs - (Date.now() - started)) {
  const deadline = Date.now() + Math.max(budgetMs, 1000);
  let last;
  while (Date.now() < deadline) {
    checkAlive();
    last = await fn();
    if (last?.ok) return last;
    await sleep(250);
  }
  failWith(`timed out waiting for ${what}: ${last?.why ?? ""}`);
}

function probePort(pod, port) {
  const containerPort = typeof port === "string" ? pod.container.ports.find((p) => p.name === port)?.containerPort : port;
  return pod.ports[containerPort];
}

// ---------------------------------------------------------------------- run
log(`${pods.length} pods from ${docs.length} rendered objects; work dir ${work}`);
if (!canUnshare) log("NOTE: not root or no UTS namespaces: brokers get --node-id=<ordinal> instead of their host name");
// Every pod at once, as Kubernetes starts them (it does not order a
// release's workloads): the apps must wait for brokers that are still
// electing a controller and registering (a streamer asking for its topic
// then is refused "replication factor 3 exceeds the 0 live broker(s)" and
// must retry, not exit). This test restarts nothing, so an exit fails it.
const isBroker = (pod) => path.basename(pod.container.command?.[0] ?? "") === "telemq-broker";
for (const pod of pods) start(pod);
await waitForProbes(pods.filter(isBroker));
await waitForProbes(pods.filter((p) => !isBroker(p)));

async function waitForProbes(group) {
for (const pod of group) {
  for (const kind of ["startupProbe", "livenessProbe", "readinessProbe"]) {
    const probe = pod.container[kind];
    if (!probe) continue;
    if (!probe.httpGet) failWith(`${pod.name}: ${kind} is not an httpGet probe`);
    const port = probePort(pod, probe.httpGet.port);
    if (port === undefined) failWith(`${pod.name}: ${kind} port ${probe.httpGet.port} is not a container port`);
    await until(`${pod.name} ${kind} ${probe.httpGet.path}`, async () => {
      const r = await httpGet(port, probe.httpGet.path);
      return { ok: r.status === 200, why: `${r.status} ${r.body.slice(0, 200)}` };
    });
    log(`${pod.name}: ${kind} ${probe.httpGet.path} answers 200`);
  }
}
}

const brokers = pods.filter((p) => p.program === "telemq-broker");
const brokerPort = (pod) => pod.ports[pod.container.ports.find((p) => p.name === "broker").containerPort];
const status = await until("telemq cluster status: every broker up", async () => {
  const r = spawnSync(bins.telemq, ["--bootstrap", `127.0.0.1:${brokerPort(brokers[0])}`, "cluster", "status", "--format", "json"], {
    encoding: "utf8",
    timeout: 10_000,
  });
  let s;
  try {
    s = JSON.parse(r.stdout);
  } catch {
    return { ok: false, why: `${r.status ?? r.error}: ${r.stderr}` };
  }
  if (!Array.isArray(s?.brokers)) return { ok: false, why: `${r.status}: ${r.stdout} ${r.stderr}` };
  const up = s.brokers.filter((b) => b.state === "up");
  return { ok: up.length === brokers.length && s.controller.id >= 0, why: r.stdout, status: s };
});
for (const pod of brokers) {
  const b = status.status.brokers.find((x) => x.id === pod.ordinal);
  if (!b || b.host !== "127.0.0.1" || b.port !== brokerPort(pod)) {
    failWith(`broker ${pod.ordinal} should be ${pod.name} at 127.0.0.1:${brokerPort(pod)}: ${JSON.stringify(b)}`);
  }
}
log(`cluster ${status.status.cluster_id}: brokers ${status.status.brokers.map((b) => `${b.id}@${b.port} ${b.state}`).join(", ")}; controller ${status.status.controller.id}`);

const streamerToml = Object.values(configMaps).find((d) => d["streamer.toml"])?.["streamer.toml"] ?? "";
const fleet = /synthetic:hosts=(\d+),gpus=(\d+)/.exec(streamerToml);
if (!fleet) failWith("the default streamer source is not a synthetic fleet");
const wantGpus = Number(fleet[1]) * Number(fleet[2]);
for (const gw of pods.filter((p) => p.program === "telemq-gateway")) {
  const port = gw.ports[gw.container.ports[0].containerPort];
  await until(`${gw.name} /api/v1/gpus listing ${wantGpus} GPUs`, async () => {
    const r = await httpGet(port, "/api/v1/gpus", 5000);
    let n = -1;
    let body;
    try {
      body = JSON.parse(r.body);
      n = (Array.isArray(body) ? body : (body.gpus ?? body.items ?? body.data ?? [])).length;
    } catch {}
    return { ok: r.status === 200 && n === wantGpus && body?.partial === false, why: `${r.status}, ${n} GPUs: ${r.body.slice(0, 200)}` };
  });
  log(`${gw.name}: /api/v1/gpus lists ${wantGpus} GPUs`);
  // /docs and an asset read from the chart's docs-dir.
  for (const page of ["/docs", "/docs/swagger-ui.css"]) {
    const r = await httpGet(port, page);
    if (r.status !== 200) failWith(`${gw.name}: ${page} answered ${r.status}: ${r.body.slice(0, 200)}`);
  }
}

// The chart's dashboards and alert rules ask only for metrics, labels and
// label values the running stack exports (tests/observability/promql_refs.mjs):
// every pod's /metrics on the port the ServiceMonitor scrapes (admin,
// http), after the traffic above (produce, fetch, group commits, gateway
// queries).
{
  const families = new Map();
  for (const pod of pods) {
    const port = pod.container.ports?.find((p) => p.name === "admin" || p.name === "http");
    if (!port) continue;
    const r = await httpGet(pod.ports[port.containerPort], "/metrics", 5000);
    if (r.status !== 200) failWith(`${pod.name}: /metrics answered ${r.status}: ${r.body.slice(0, 200)}`);
    try {
      parseExposition(r.body, families);
    } catch (e) {
      failWith(`${pod.name}: /metrics: ${e.message}`);
    }
  }
  const exprs = expressions(repo);
  const unchecked = [];
  const problems = unknownReferences(exprs, families, unchecked);
  if (problems.length > 0) failWith(`dashboards and alert rules refer to what the stack does not export:\n  ${problems.join("\n  ")}`);
  // The same check on a metric nobody exports must object.
  if (unknownReferences([{ where: "probe", expr: "rate(telemq_broker_no_such_metric_total[5m])" }], families).length !== 1) {
    failWith("an unknown metric was not reported");
  }
  log(`${exprs.length} dashboard and alert expressions refer only to the ${families.size} metric families the pods export`);
  for (const u of unchecked) log(`  labels unchecked, no series scraped: ${u}`);
}

// Stop as Kubernetes would: SIGTERM, then the grace period.
async function stop(group) {
  await Promise.all(
    group.map(async (p) => {
      const grace = (p.pod.spec.terminationGracePeriodSeconds ?? 30) * 1000;
      const t0 = Date.now();
      p.child.kill("SIGTERM");
      while (!p.exited && Date.now() - t0 < grace) await sleep(100);
      if (!p.exited) failWith(`${p.pod.name} still running ${grace / 1000}s (its terminationGracePeriodSeconds) after SIGTERM`);
      if (p.code !== 0) failWith(`${p.pod.name} exited ${p.code ?? p.signal} after SIGTERM`);
      log(`${p.pod.name} stopped in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
    }),
  );
}
await stop(procs.filter((p) => p.pod.program !== "telemq-broker"));
await stop(procs.filter((p) => p.pod.program === "telemq-broker"));
log("PASS: the chart's workloads run as a working stack");
process.exit(0);
