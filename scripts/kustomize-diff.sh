#!/usr/bin/env bash
# Differential test: builds every case of testdata/kustomize/ (or those named as
# arguments) with real kustomize and with `kiln build`, and compares the output byte
# for byte. Each case is one of:
#   same      identical bytes (or both tools fail);
#   refused   kiln refuses a feature on purpose with the message in the case's
#             expected.err, where kustomize succeeds (not counted as a difference);
#   DIFFER    anything else: a unified diff follows, and whether the documents differ
#             as data too (read with PyYAML, a YAML 1.1 reader like the Go YAML
#             libraries behind kubectl: a string such as `yes` that kiln writes without
#             quotes reads as a boolean there).
# Exit status 1 when any case differs.
#   KILN  the kiln binary (default: built with cargo from this work tree)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cases_dir="$repo/testdata/kustomize"

kubectl="$repo/.peers/kubectl/kubectl"
if [ ! -x "$kubectl" ] && ! "$repo/scripts/fetch-peers.sh" >&2; then
  kubectl="$(command -v kubectl)"
  echo "warning: using $kubectl, not kustomize v5.7.1" >&2
fi
if [ -z "${KILN:-}" ]; then
  (cd "$repo" && cargo build -q -p kiln-cli)
  KILN="${CARGO_TARGET_DIR:-$repo/target}/debug/kiln"
fi

if [ $# -gt 0 ]; then cases=("$@"); else
  cases=(); for d in "$cases_dir"/*/; do cases+=("$(basename "$d")"); done
fi

scratch="$(mktemp -d)"; trap 'rm -rf "$scratch"' EXIT
same=0; refused=0; differ=0
for name in "${cases[@]}"; do
  case_dir="$cases_dir/$name"
  build_dir="."
  [ -f "$case_dir/build-dir" ] && build_dir="$(tr -d '[:space:]' < "$case_dir/build-dir")"
  k_dir="$case_dir"; n_dir="$case_dir"; flags=(); plugin_home=""
  if grep -rqF '@SHA256:' "$case_dir"; then
    # WASM functions: kiln runs them built for wasip1, kustomize built for the host.
    rm -rf "$scratch/k" "$scratch/n"
    plugin_home="$("$repo/scripts/kustomize-plugin-case.sh" "$case_dir" "$scratch/k")"
    "$repo/scripts/kustomize-wasm-case.sh" "$case_dir" "$scratch/n"
    k_dir="$scratch/k"; n_dir="$scratch/n"; flags=(--enable-alpha-plugins)
  fi
  k_rc=0; n_rc=0
  (cd "$k_dir" && KUSTOMIZE_PLUGIN_HOME="$plugin_home" "$kubectl" kustomize "${flags[@]}" "$build_dir") \
    >"$scratch/k.yaml" 2>"$scratch/k.err" || k_rc=$?
  (cd "$n_dir" && "$KILN" --no-cache build --root . "$build_dir") >"$scratch/n.yaml" 2>"$scratch/n.err" || n_rc=$?
  if [ $k_rc -ne 0 ] || [ $n_rc -ne 0 ]; then
    if [ $k_rc -ne 0 ] && [ $n_rc -ne 0 ]; then
      same=$((same + 1)); echo "same    $name (both fail)"
    elif [ $n_rc -ne 0 ] && [ -f "$case_dir/expected.err" ] \
      && grep -qF -- "$(head -n1 "$case_dir/expected.err" | sed 's/@SHA256:[A-Za-z0-9_.-]*@.*//' | cut -c1-60)" "$scratch/n.err"; then
      refused=$((refused + 1)); echo "refused $name (on purpose: expected.err)"
    else
      differ=$((differ + 1))
      echo "DIFFER  $name: kustomize exit $k_rc, kiln exit $n_rc"
      [ $k_rc -ne 0 ] && sed 's/^/    kustomize: /' "$scratch/k.err"
      [ $n_rc -ne 0 ] && sed 's/^/    kiln: /' "$scratch/n.err"
    fi
    continue
  fi
  if cmp -s "$scratch/k.yaml" "$scratch/n.yaml"; then
    same=$((same + 1)); echo "same    $name"
    continue
  fi
  differ=$((differ + 1))
  if data="$(python3 - "$scratch/k.yaml" "$scratch/n.yaml" <<'PY'
import sys, yaml
def docs(p):
    with open(p) as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]
print("same data" if docs(sys.argv[1]) == docs(sys.argv[2]) else "different data")
PY
)"; then :; else data="data unreadable"; fi
  echo "DIFFER  $name ($data)"
  diff -u --label kustomize --label kiln "$scratch/k.yaml" "$scratch/n.yaml" | sed 's/^/    /' || true
done
echo "$same same, $refused refused on purpose, $differ different"
[ $differ -eq 0 ]
