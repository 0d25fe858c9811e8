// The promises of the Helm chart, checked on its rendered objects (the
// schemas are tools/validate-k8s.mjs's job; whether the programs accept
// what the chart passes is conformance.mjs's):
//
//   node tests/k8s/chart_expect.mjs default|minimal|scaled RENDERED.yaml
//
// Prints one line per broken promise; exits 1 if there is any.
import { readFileSync, readdirSync } from "node:fs";
import { isDeepStrictEqual } from "node:util";
import { createRequire } from "node:module";

const require = createRequire(new URL("../../tools/package.json", import.meta.url));
const YAML = require("yaml");

const [variant, file] = process.argv.slice(2);
const docs = YAML.parseAllDocuments(readFileSync(file, "utf8"))
  .map((d) => d.toJS())
  .filter((d) => d);
const problems = [];
const check = (ok, what) => {
  if (!ok) problems.push(what);
};
const component = (o) => o.metadata?.labels?.["app.kubernetes.io/component"];
const find = (kind, comp) => docs.filter((o) => o.kind === kind && (comp === undefined || component(o) === comp));
const one = (kind, comp) => {
  const all = find(kind, comp);
  check(all.length === 1, `expected one ${kind} of ${comp}, found ${all.length}`);
  return all[0] ?? {};
};
const configMapFile = (name, key) => docs.find((o) => o.kind === "ConfigMap" && o.metadata.name === name)?.data?.[key];

// What each variant sets (k8s/telemq/values.yaml, ci/*-values.yaml).
const expected = {
  default: { brokers: 3, rf: 3, maxUnavailable: 1, graceAtLeast: 20, hpa: { streamer: [1, 10], collector: [1, 10], gateway: [2, 5] }, serviceMonitor: false, observability: false },
  minimal: { brokers: 1, rf: 1, maxUnavailable: 0, graceAtLeast: 20, hpa: {}, serviceMonitor: false, observability: false },
  scaled: { brokers: 5, rf: 3, maxUnavailable: 1, graceAtLeast: 35, hpa: { streamer: [2, 20], collector: [4, 16], gateway: [3, 12] }, serviceMonitor: true, observability: true },
}[variant];
if (!expected) {
  console.error(`unknown variant ${variant}`);
  process.exit(2);
}

// Labels and selectors (Helm conventions).
for (const o of docs) {
  const labels = o.metadata?.labels ?? {};
  for (const l of ["app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/managed-by", "helm.sh/chart"]) {
    check(labels[l], `${o.kind}/${o.metadata?.name}: no label ${l}`);
  }
}
const workloads = docs.filter((o) => o.kind === "StatefulSet" || o.kind === "Deployment");
check(workloads.length === 4, `expected 4 workloads, found ${workloads.length}`);
for (const w of workloads) {
  const id = `${w.kind}/${w.metadata.name}`;
  const sel = w.spec.selector.matchLabels;
  const podLabels = w.spec.template.metadata.labels;
  check(Object.entries(sel).every(([k, v]) => podLabels[k] === v), `${id}: selector does not match its pod labels`);
  check(sel["app.kubernetes.io/component"], `${id}: selector without a component`);
  const pod = w.spec.template.spec;
  check(pod.securityContext?.runAsNonRoot === true, `${id}: runAsNonRoot`);
  check(pod.securityContext?.fsGroup === 10001, `${id}: fsGroup 10001`);
  check(w.spec.template.metadata.annotations?.["checksum/config"]?.length === 64, `${id}: no checksum/config annotation`);
  for (const c of pod.containers) {
    const sc = c.securityContext ?? {};
    check(sc.readOnlyRootFilesystem === true, `${id}/${c.name}: readOnlyRootFilesystem`);
    check(sc.allowPrivilegeEscalation === false, `${id}/${c.name}: allowPrivilegeEscalation`);
    check(sc.capabilities?.drop?.includes("ALL"), `${id}/${c.name}: capabilities not dropped`);
    check(c.resources?.requests?.cpu && c.resources?.requests?.memory && c.resources?.limits?.memory, `${id}/${c.name}: resources`);
    check(c.livenessProbe && c.readinessProbe, `${id}/${c.name}: probes`);
    // Every --config file is a key of a ConfigMap mounted at its directory.
    for (const arg of c.args ?? []) {
      const m = /^--config=(.*)\/([^/]+)$/.exec(arg);
      if (!m) continue;
      const mount = c.volumeMounts.find((v) => v.mountPath === m[1]);
      const volume = mount && pod.volumes.find((v) => v.name === mount.name);
      check(volume?.configMap && configMapFile(volume.configMap.name, m[2]) !== undefined, `${id}: ${arg} is not a mounted ConfigMap key`);
    }
  }
  const hpaRange = expected.hpa[component(w)];
  const hpa = find("HorizontalPodAutoscaler", component(w))[0];
  if (hpaRange) {
    check(hpa?.spec.minReplicas === hpaRange[0] && hpa?.spec.maxReplicas === hpaRange[1], `${id}: autoscaler ${hpaRange}`);
    check(hpa?.spec.scaleTargetRef.kind === w.kind && hpa?.spec.scaleTargetRef.name === w.metadata.name, `${id}: autoscaler target`);
    check(w.spec.replicas === undefined, `${id}: replicas set although an autoscaler owns them`);
  } else {
    check(!hpa, `${id}: unexpected autoscaler`);
  }
}

// Brokers.
const sts = one("StatefulSet", "broker");
const headless = docs.find((o) => o.kind === "Service" && o.metadata.name === sts.spec?.serviceName);
check(headless?.spec.clusterIP === "None" && headless?.spec.publishNotReadyAddresses === true, "broker headless service");
check(sts.spec?.podManagementPolicy === "Parallel", "brokers: podManagementPolicy Parallel");
check(sts.spec?.replicas === expected.brokers, `brokers: ${expected.brokers} replicas`);
check(sts.spec?.volumeClaimTemplates?.length === 1, "brokers: volumeClaimTemplates");
const broker = sts.spec?.template.spec.containers[0] ?? {};
const brokerConfigArg = (broker.args ?? []).find((a) => a.startsWith("--config="));
const brokerYaml = YAML.parse(configMapFile(sts.metadata?.name, brokerConfigArg?.split("/").pop()) ?? "{}");
check(brokerYaml.node_id === undefined, "broker config sets node_id (it must come from the pod ordinal)");
check(brokerYaml.default_replication_factor === expected.rf, `broker replication factor ${expected.rf}`);
const domain = `${headless?.metadata.name}.telemetry.svc.`;
check(
  brokerYaml.peers?.length === expected.brokers &&
    brokerYaml.peers.every((p, i) => p.startsWith(`${sts.metadata.name}-${i}.${domain}`) && p.endsWith(`:${brokerYaml.port}`)),
  `broker peers: entry i must be pod ${sts.metadata?.name}-i: ${brokerYaml.peers}`,
);
const peerDomain = (brokerYaml.peers?.[0] ?? "").replace(/^[^.]*/, "").replace(/:\d+$/, "");
check((broker.args ?? []).includes(`--advertised-host=$(POD_NAME)${peerDomain}`), `broker advertises its pod DNS name (*${peerDomain})`);
check(broker.env?.some((e) => e.name === "POD_NAME" && e.valueFrom?.fieldRef?.fieldPath === "metadata.name"), "broker POD_NAME from the downward API");
const grace = sts.spec?.template.spec.terminationGracePeriodSeconds;
const drain = (brokerYaml.leadership_drain_timeout_ms + brokerYaml.shutdown_grace_ms) / 1000;
check(grace > drain && grace >= expected.graceAtLeast, `broker grace period ${grace}s must exceed drain + shutdown grace ${drain}s`);
check(!broker.lifecycle?.preStop, "broker preStop (the drain runs on SIGTERM)");
check(broker.startupProbe?.httpGet?.path === "/healthz" && broker.livenessProbe?.httpGet?.path === "/healthz", "broker startup/liveness on /healthz");
check(broker.readinessProbe?.httpGet?.path === "/readyz", "broker readiness on /readyz");
const adminPort = broker.ports?.find((p) => p.name === broker.readinessProbe?.httpGet?.port)?.containerPort;
check(adminPort === brokerYaml.http_port, `broker probes on the admin port ${brokerYaml.http_port}, not ${adminPort}`);
check(
  broker.startupProbe?.periodSeconds * broker.startupProbe?.failureThreshold >= 300,
  "broker startup probe allows at least 5 minutes of recovery",
);
const mount = broker.volumeMounts?.find((v) => v.name === "data")?.mountPath;
check(mount && brokerYaml.data_dir?.startsWith(`${mount}/`), "broker data_dir on its volume");
const pdb = one("PodDisruptionBudget", "broker");
check(pdb.spec?.maxUnavailable === expected.maxUnavailable, `broker PDB maxUnavailable ${expected.maxUnavailable}, got ${pdb.spec?.maxUnavailable}`);
check(JSON.stringify(pdb.spec?.selector.matchLabels) === JSON.stringify(sts.spec?.selector.matchLabels), "broker PDB selector");
const required = sts.spec?.template.spec.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution;
if (variant === "minimal") {
  check(!sts.spec?.template.spec.affinity, "minimal: no broker anti-affinity");
} else {
  check(required?.[0]?.topologyKey === "kubernetes.io/hostname", "brokers: hard anti-affinity on the host name");
}

// Collectors: a StatefulSet whose stores live on its volume, advertising its pod DNS name.
const csts = one("StatefulSet", "collector");
const collector = csts.spec?.template.spec.containers[0] ?? {};
check(csts.spec?.volumeClaimTemplates?.length === 1, "collectors: volumeClaimTemplates");
const ctoml = configMapFile(csts.metadata?.name, "collector.toml") ?? "";
const cmount = collector.volumeMounts?.find((v) => v.name === "data")?.mountPath;
check(new RegExp(`^data-dir = "${cmount}/`, "m").test(ctoml), "collector data-dir on its volume");
const cheadless = docs.find((o) => o.kind === "Service" && o.metadata.name === csts.spec?.serviceName);
check(cheadless?.spec.clusterIP === "None", "collector headless service");
check((collector.args ?? []).some((a) => a.startsWith(`--advertise-host=$(POD_NAME).${cheadless?.metadata.name}.telemetry.svc.`)), "collector advertises its pod DNS name");
check((collector.args ?? []).includes("--instance-id=$(POD_NAME)"), "collector static membership by pod name");

// Gateway Service and the optional ServiceMonitor.
check(find("Service", "gateway").length === 1, "gateway service");
const sm = docs.filter((o) => o.kind === "ServiceMonitor");
check(sm.length === (expected.serviceMonitor ? 1 : 0), `ServiceMonitor ${expected.serviceMonitor ? "missing" : "unexpected"}`);
if (sm.length === 1) {
  const sel = sm[0].spec.selector.matchLabels;
  // Each scraped Service with the port of the endpoint that matches it: the
  // brokers' admin port, the apps' http port.
  const ports = sm[0].spec.endpoints.map((e) => e.port);
  const scraped = docs.filter(
    (o) => o.kind === "Service" && Object.entries(sel).every(([k, v]) => o.metadata.labels?.[k] === v) && o.spec.ports.some((p) => ports.includes(p.name)),
  );
  check(scraped.map(component).sort().join(",") === "broker,collector,gateway,streamer", `ServiceMonitor selects ${scraped.map(component)}`);
  const brokerScraped = scraped.find((o) => component(o) === "broker");
  check(brokerScraped?.spec.ports.some((p) => p.name === "admin" && ports.includes("admin")), "ServiceMonitor scrapes the brokers' admin port");
}

// The optional dashboards ConfigMap and PrometheusRule: the chart's files,
// unchanged (k8s/telemq/dashboards/*.json, rules/telemq-alerts.yaml).
const chartDir = new URL("../../k8s/telemq/", import.meta.url);
const dashboards = docs.filter((o) => o.kind === "ConfigMap" && o.metadata.name.endsWith("-dashboards"));
const rules = docs.filter((o) => o.kind === "PrometheusRule");
check(dashboards.length === (expected.observability ? 1 : 0), `dashboards ConfigMap ${expected.observability ? "missing" : "unexpected"}`);
check(rules.length === (expected.observability ? 1 : 0), `PrometheusRule ${expected.observability ? "missing" : "unexpected"}`);
if (dashboards.length === 1) {
  const cm = dashboards[0];
  check(cm.metadata.labels.grafana_dashboard === "1", "dashboards ConfigMap without the grafana_dashboard label");
  check(cm.metadata.annotations?.grafana_folder === "telemq", "dashboards ConfigMap without its annotations");
  const files = readdirSync(new URL("dashboards/", chartDir)).filter((f) => f.endsWith(".json"));
  check(files.length >= 2, `only ${files.length} dashboards in the chart`);
  check(Object.keys(cm.data ?? {}).sort().join(",") === files.map((f) => `telemq-${f}`).sort().join(","), `dashboard keys ${Object.keys(cm.data ?? {})}`);
  for (const f of files) {
    const want = readFileSync(new URL(`dashboards/${f}`, chartDir), "utf8").replace(/\n$/, "");
    check(cm.data?.[`telemq-${f}`] === want, `dashboard ${f} is not the chart's file unchanged`);
  }
}
if (rules.length === 1) {
  const want = YAML.parse(readFileSync(new URL("rules/telemq-alerts.yaml", chartDir), "utf8"));
  check(isDeepStrictEqual(rules[0].spec.groups, want.groups), "PrometheusRule groups differ from rules/telemq-alerts.yaml");
  check(rules[0].metadata.labels.release === "prometheus", "PrometheusRule without its labels");
  // TelemqBrokerDown finds the brokers by the job label the ServiceMonitor
  // gives them: the name of the broker Service it scrapes.
  const down = want.groups.flatMap((g) => g.rules).find((r) => r.alert === "TelemqBrokerDown");
  const jobRe = /job=~"([^"]+)"/.exec(down?.expr ?? "")?.[1];
  const brokerJobs = docs.filter((o) => o.kind === "Service" && component(o) === "broker" && o.metadata.labels?.["telemq.io/metrics"] === "true");
  check(jobRe && brokerJobs.length === 1 && new RegExp(`^(?:${jobRe})$`).test(brokerJobs[0].metadata.name), `TelemqBrokerDown's job=~"${jobRe}" does not match the scraped broker Service`);
  const other = docs.filter((o) => o.kind === "Service" && component(o) !== "broker" && o.metadata.labels?.["telemq.io/metrics"] === "true");
  check(other.length > 0 && other.every((o) => !new RegExp(`^(?:${jobRe})$`).test(o.metadata.name)), `TelemqBrokerDown's job=~"${jobRe}" matches a non-broker Service`);
}

for (const p of problems) console.log(`${variant}: ${p}`);
console.log(`${variant}: chart properties ${problems.length === 0 ? "hold" : `broken: ${problems.length}`}`);
process.exit(problems.length === 0 ? 0 : 1);
