#!/usr/bin/env bash
# Regenerates the golden outputs of testdata/kustomize/<case>/ with real kustomize
# (`kubectl kustomize`, kustomize v5.7.1 from scripts/fetch-peers.sh; the kubectl on PATH
# only when that fetch fails).
#
# For each case (all, or those named as arguments) it builds the folder named in the
# case's `build-dir` file (default `.`) and writes:
#   expected.yaml   what kustomize printed, when it succeeds (the test compares kiln to it);
#   kustomize.yaml  the same, instead, for a case where kiln errors on purpose
#                   (the case has an expected.err: an unsupported feature, a refused
#                   exec function), kept to document what kustomize does;
#   A case that runs WASM functions (see crates/kiln/tests/it/kustomize.rs) is built by
#   kustomize from a copy running the same plugins built for the host, as legacy exec
#   plugins (kustomize-plugin-case.sh).
#   kustomize.err   kustomize's error message when it fails (the case's absolute path
#                   shown as <case>); kiln's own message is in expected.err, which
#                   `KILN_BLESS=1 cargo test -p kiln --test it kustomize` rewrites.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cases_dir="$repo/testdata/kustomize"

kubectl="$repo/.peers/kubectl/kubectl"
if [ ! -x "$kubectl" ] && ! "$repo/scripts/fetch-peers.sh" >&2; then
  kubectl="$(command -v kubectl || true)"
  [ -n "$kubectl" ] || { echo "no kubectl: run scripts/fetch-peers.sh" >&2; exit 1; }
  echo "warning: using $kubectl, not kustomize v5.7.1" >&2
fi
echo "using $("$kubectl" version --client 2>/dev/null | grep -i kustomize)" >&2

if [ $# -gt 0 ]; then
  cases=("$@")
else
  cases=()
  for d in "$cases_dir"/*/; do cases+=("$(basename "$d")"); done
fi

for name in "${cases[@]}"; do
  case_dir="$cases_dir/$name"
  build_dir="."
  [ -f "$case_dir/build-dir" ] && build_dir="$(tr -d '[:space:]' < "$case_dir/build-dir")"
  out="$(mktemp)"; err="$(mktemp)"
  run_dir="$case_dir"; flags=(); plugin_home=""
  if grep -rqF '@SHA256:' "$case_dir"; then
    # WASM functions: kustomize runs the same plugins built for the host.
    run_dir="$(mktemp -d)/$name"
    plugin_home="$("$repo/scripts/kustomize-plugin-case.sh" "$case_dir" "$run_dir")"
    flags=(--enable-alpha-plugins)
  fi
  if (cd "$run_dir" && KUSTOMIZE_PLUGIN_HOME="$plugin_home" "$kubectl" kustomize "${flags[@]}" "$build_dir") >"$out" 2>"$err"; then
    rm -f "$case_dir/kustomize.err"
    if [ -f "$case_dir/expected.err" ]; then
      mv "$out" "$case_dir/kustomize.yaml"; rm -f "$case_dir/expected.yaml"
      echo "$name: kustomize succeeds, kiln errors on purpose (kustomize.yaml)"
    else
      mv "$out" "$case_dir/expected.yaml"; rm -f "$case_dir/kustomize.yaml"
      echo "$name: expected.yaml"
    fi
  else
    rm -f "$case_dir/expected.yaml" "$case_dir/kustomize.yaml"
    sed -e "s#$case_dir#<case>#g" -e "s#$run_dir#<case>#g" -e "s#/tmp/kust-plugin-config-[0-9]*#<plugin config>#g" "$err" > "$case_dir/kustomize.err"
    echo "$name: kustomize fails (kustomize.err)"
  fi
  rm -f "$out" "$err"
done
