#!/usr/bin/env node
// Validates Kubernetes manifests offline against the API schemas, the way
// `kubectl apply --validate=strict` would without a cluster:
//
//   node tools/validate-k8s.mjs FILE.yaml...   (or - for stdin)
//
// Every document is checked by the schema of its apiVersion/kind from the
// npm package kubernetes-models (the prometheus-operator kinds from
// @kubernetes-models/prometheus-operator): types, required fields, enums,
// formats. Those validators accept unknown fields, so each document is
// handed to them behind a Proxy that records which keys the validator
// reads; a key it never read is a field the schema does not declare, and is
// reported as unknown. (A validator reads every declared property of an
// object it visits, present or not, and iterates the keys of a map, so only
// undeclared keys stay unread. An object it never looks into at all is a
// free-form one, such as an x-kubernetes-preserve-unknown-fields field, and
// is not checked.) A kind without a schema is an error too.
//
// Prints one line per problem (file, document, kind/name, path) and exits
// 1 when there is any, 0 otherwise.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { parseAllDocuments } from "yaml";

const require = createRequire(import.meta.url);

// apiVersion -> module exporting its kinds as model classes.
function modelModule(apiVersion) {
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion];
  const candidates = group === "" ? [`kubernetes-models/${version}`] : [`kubernetes-models/${group}/${version}`];
  candidates.push(`@kubernetes-models/prometheus-operator/${group}/${version}`);
  for (const name of candidates) {
    try {
      return require(name);
    } catch (e) {
      if (e.code !== "MODULE_NOT_FOUND" && e.code !== "ERR_PACKAGE_PATH_NOT_EXPORTED") throw e;
    }
  }
  return null;
}

// Wraps `value` so that every key read through it is recorded in `reads`
// (a Map from each wrapped object to the Set of its keys that were read).
function watch(value, reads) {
  if (value === null || typeof value !== "object") return value;
  const seen = new Set();
  reads.set(value, seen);
  const children = new Map();
  return new Proxy(value, {
    get(target, key, receiver) {
      if (typeof key === "string") seen.add(key);
      const v = Reflect.get(target, key, receiver);
      if (v === null || typeof v !== "object") return v;
      if (!children.has(key)) children.set(key, watch(v, reads));
      return children.get(key);
    },
    has(target, key) {
      if (typeof key === "string") seen.add(key);
      return Reflect.has(target, key);
    },
  });
}

// Keys present in `value` that the validator never read, as JSON paths.
function unread(value, reads, path, out) {
  if (value === null || typeof value !== "object") return;
  const seen = reads.get(value);
  if (seen === undefined || seen.size === 0) return;  // never visited, or free-form
  if (Array.isArray(value)) {
    value.forEach((v, i) => unread(v, reads, `${path}[${i}]`, out));
    return;
  }
  for (const key of Object.keys(value)) {
    if (!seen.has(key)) {
      out.push(`${path}.${key}`);
    } else {
      unread(value[key], reads, `${path}.${key}`, out);
    }
  }
}

function validate(doc) {
  const problems = [];
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) return ["not an object"];
  const { apiVersion, kind } = doc;
  if (typeof apiVersion !== "string" || typeof kind !== "string") return ["no apiVersion or kind"];
  const mod = modelModule(apiVersion);
  const Model = mod && mod[kind];
  if (!Model || typeof Model.prototype.validate !== "function") {
    return [`no schema for ${apiVersion} ${kind}`];
  }
  const reads = new Map();
  try {
    // The model's validate() runs the compiled schema on `this`.
    Model.prototype.validate.call(watch(doc, reads));
  } catch (e) {
    problems.push(`schema: ${e.message}`);
  }
  const unknown = [];
  unread(doc, reads, "", unknown);
  for (const path of unknown) problems.push(`unknown field ${path.slice(1)}`);
  return problems;
}

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error("usage: validate-k8s.mjs FILE.yaml... (- for stdin)");
  process.exit(2);
}
let failures = 0;
let checked = 0;
for (const file of files) {
  const text = readFileSync(file === "-" ? 0 : file, "utf8");
  parseAllDocuments(text).forEach((parsed, index) => {
    const where = `${file}#${index}`;
    if (parsed.errors.length > 0) {
      failures++;
      console.log(`${where}: YAML: ${parsed.errors.map((e) => e.message).join("; ")}`);
      return;
    }
    const doc = parsed.toJS();
    if (doc === null) return;  // an empty document (a template that rendered nothing)
    checked++;
    const name = `${doc.kind}/${doc.metadata?.name ?? "?"}`;
    for (const problem of validate(doc)) {
      failures++;
      console.log(`${where} ${name}: ${problem}`);
    }
  });
}
console.log(`${checked} object(s) checked, ${failures} problem(s)`);
process.exit(failures === 0 ? 0 : 1);
