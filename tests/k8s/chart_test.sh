#!/usr/bin/env bash
# The Helm chart k8s/telemq, statically:
#   1. `helm lint --strict` with the default, minimal and scaled values
#      (k8s/telemq/ci/*-values.yaml) for two Kubernetes versions;
#   2. each of those renders (`helm template --kube-version`), and every
#      rendered object passes tools/validate-k8s.mjs: the Kubernetes schema
#      of its kind, offline, unknown fields rejected (the validator first
#      proves on fixtures/ that it rejects an unknown field and a type error);
#   3. the properties the chart promises, on the rendered objects
#      (chart_expect.mjs): quorum-safe PodDisruptionBudget, grace period
#      covering the drain, probes, security contexts, config checksums, ...;
#   4. `helm package` includes dashboards/ and rules/, and the packaged
#      chart renders them unchanged (the scaled values enable both);
#   5. every values file in negative/ fails to render, with the message its
#      `# expect:` line names (wrong types, unknown keys, quorum-breaking
#      broker counts, ...).
# Exit 77 (ctest SKIP_RETURN_CODE) when helm is not installed.
#
#   tests/k8s/chart_test.sh
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
chart=$repo/k8s/telemq
here=$repo/tests/k8s
helm=$repo/tools/k8s/bin/helm
[[ -x $helm ]] || helm=$(command -v helm || true)
if [[ -z $helm ]]; then
  echo "SKIP: helm is not installed (scripts/install-deps puts it in tools/k8s/bin)"
  exit 77
fi
kube_versions=(1.29.0 1.33.0)
work=$(mktemp -d /tmp/telemq-chart-test.XXXXXX)
trap 'rm -rf "$work"' EXIT
failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}
echo "== $("$helm" version --short), node $(node --version)"

echo "== validator self-test"
for fixture in "$here"/fixtures/*.yaml; do
  if node "$repo/tools/validate-k8s.mjs" "$fixture" >"$work/selftest.out"; then
    fail "validate-k8s.mjs accepted $(basename "$fixture")"
  else
    echo "ok: rejected $(basename "$fixture"): $(head -1 "$work/selftest.out")"
  fi
done

variants=(default minimal scaled)
values_args() {
  [[ $1 == default ]] || echo "-f $chart/ci/$1-values.yaml"
}
for variant in "${variants[@]}"; do
  for kv in "${kube_versions[@]}"; do
    # shellcheck disable=SC2046
    echo "== $variant values, Kubernetes $kv"
    # shellcheck disable=SC2046
    if ! "$helm" lint --strict "$chart" $(values_args "$variant") --kube-version "$kv" >"$work/lint.out" 2>&1; then
      cat "$work/lint.out" >&2
      fail "helm lint --strict ($variant, $kv)"
      continue
    fi
    grep -E '^\[(WARNING|ERROR)\]' "$work/lint.out" && fail "helm lint warnings ($variant, $kv)"
    out=$work/$variant-$kv.yaml
    # shellcheck disable=SC2046
    if ! "$helm" template telemq "$chart" --namespace telemetry $(values_args "$variant") --kube-version "$kv" \
      >"$out" 2>"$work/template.err"; then
      cat "$work/template.err" >&2
      fail "helm template ($variant, $kv)"
      continue
    fi
    node "$repo/tools/validate-k8s.mjs" "$out" || fail "schema validation ($variant, $kv)"
    node "$here/chart_expect.mjs" "$variant" "$out" || fail "chart properties ($variant, $kv)"
  done
done

echo "== the packaged chart carries its dashboards and alert rules"
# helm package, not the source tree: the ConfigMap and PrometheusRule read
# dashboards/ and rules/ with .Files, which only sees what is packaged.
if "$helm" package "$chart" --destination "$work/pkg" >"$work/package.out" 2>&1; then
  tgz=$(ls "$work"/pkg/telemq-*.tgz)
  packaged=$(tar -tzf "$tgz")
  for f in "$chart"/dashboards/*.json "$chart"/rules/*.yaml; do
    grep -qxF "telemq/${f#"$chart"/}" <<<"$packaged" || fail "the package lacks ${f#"$chart"/}"
  done
  if "$helm" template telemq "$tgz" --namespace telemetry -f "$chart/ci/scaled-values.yaml" >"$work/pkg.yaml" 2>"$work/pkg.err"; then
    node "$here/chart_expect.mjs" scaled "$work/pkg.yaml" >/dev/null || fail "the packaged chart's dashboards or rules differ from the source"
  else
    cat "$work/pkg.err" >&2
    fail "helm template of the packaged chart"
  fi
  echo "ok: $(basename "$tgz"): $(grep -cE '^telemq/(dashboards|rules)/' <<<"$packaged") dashboard and rule files"
else
  cat "$work/package.out" >&2
  fail "helm package"
fi

echo "== values that must not render"
for values in "$here"/negative/*.yaml; do
  expect=$(sed -n 's/^# expect: //p' "$values")
  name=$(basename "$values" .yaml)
  [[ -n $expect ]] || { fail "$name: no '# expect:' line"; continue; }
  if "$helm" template telemq "$chart" -f "$values" >"$work/neg.out" 2>&1; then
    fail "$name rendered, but must fail with: $expect"
  elif ! grep -qF -- "$expect" "$work/neg.out"; then
    fail "$name failed without the expected message '$expect':"
    sed 's/^/    /' "$work/neg.out" >&2
  else
    echo "ok: $name: $(grep -F -- "$expect" "$work/neg.out" | head -1 | sed 's/^Error: //')"
  fi
done

if [[ $failures -gt 0 ]]; then
  echo "$failures check(s) failed" >&2
  exit 1
fi
echo "all checks passed"
