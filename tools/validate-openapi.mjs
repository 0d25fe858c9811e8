#!/usr/bin/env node
// Validates an OpenAPI document (docs/openapi.json) with
// @apidevtools/swagger-parser, and checks that it lists every route the
// gateway binary serves (`telemq-gateway --print-routes`). Registered with
// ctest as gateway_openapi_validate; exits non-zero with a reason on failure.
//
//   node tools/validate-openapi.mjs --spec docs/openapi.json --gateway build/gateway/telemq-gateway

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

function fail(message) {
  console.error(`validate-openapi: FAILED: ${message}`);
  process.exit(1);
}

function arg(name) {
  const i = process.argv.indexOf(name);
  if (i < 0 || i + 1 >= process.argv.length) fail(`missing ${name} <path>`);
  return process.argv[i + 1];
}

const specPath = arg('--spec');
const gateway = arg('--gateway');

// The validator comes from tools/node_modules, installed by scripts/install-deps.
const require = createRequire(join(here, 'package.json'));
let SwaggerParser;
try {
  SwaggerParser = require('@apidevtools/swagger-parser');
} catch (e) {
  fail(`@apidevtools/swagger-parser is not installed in ${join(here, 'node_modules')}: ` +
       'run scripts/install-deps (it runs `npm ci --prefix tools`)');
}

let spec;
try {
  spec = JSON.parse(readFileSync(specPath, 'utf8'));
} catch (e) {
  fail(`cannot read ${specPath} as JSON: ${e.message}`);
}

try {
  // validate() dereferences a copy; the original stays as written.
  await SwaggerParser.validate(structuredClone(spec));
} catch (e) {
  fail(`${specPath} is not a valid OpenAPI document: ${e.message}`);
}
if (!/^3\./.test(spec.openapi ?? '')) fail(`${specPath} is not OpenAPI 3 (openapi: ${spec.openapi})`);

let routes;
try {
  routes = execFileSync(gateway, ['--print-routes'], { encoding: 'utf8' }).trim().split('\n').filter(Boolean);
} catch (e) {
  fail(`cannot list routes with ${gateway} --print-routes: ${e.message}`);
}
if (routes.length === 0) fail('the gateway printed no routes');

const missing = [];
for (const line of routes) {
  const [method, path] = line.split(' ');
  if (!spec.paths?.[path]?.[method.toLowerCase()]) missing.push(line);
}
if (missing.length > 0) fail(`${specPath} lacks routes the gateway serves: ${missing.join(', ')} (run \`make openapi\`)`);

// Served operations are GET and HEAD; the other methods are declared only to
// document their refusal (405), and must say nothing else.
let documented = 0;
for (const [path, item] of Object.entries(spec.paths)) {
  for (const [method, op] of Object.entries(item)) {
    if (method === 'get' || method === 'head') {
      documented++;
    } else if (Object.keys(op.responses ?? {}).some((status) => status !== '405' && status !== '414')) {
      fail(`${specPath}: ${method.toUpperCase()} ${path} is not served, yet declares answers other than 405/414`);
    }
  }
}
if (documented !== routes.length) {
  fail(`${specPath} documents ${documented} operations but the gateway serves ${routes.length} (run \`make openapi\`)`);
}
console.log(`validate-openapi: ${specPath} is valid OpenAPI ${spec.openapi} and lists all ${routes.length} routes`);
