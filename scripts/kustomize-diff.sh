#!/usr/bin/env bash
# Differential test: builds every case of testdata/kustomize/ (or those named as
# arguments) with real kustomize and with `kiln build`, and reports every difference:
# documents compared parsed (field order ignored) and in order, errors compared by
# whether each tool failed. Exit status 1 when anything differs.
#
# Documents are read with PyYAML, a YAML 1.1 reader like the Go YAML libraries behind
# kubectl: a string such as `yes` that kiln writes without quotes reads as a boolean
# there, and shows up here as a difference.
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
same=0; differ=0
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
    else
      differ=$((differ + 1))
      echo "DIFFER  $name: kustomize exit $k_rc, kiln exit $n_rc"
      [ $k_rc -ne 0 ] && sed 's/^/    kustomize: /' "$scratch/k.err"
      [ $n_rc -ne 0 ] && sed 's/^/    kiln: /' "$scratch/n.err"
    fi
    continue
  fi
  if report="$(python3 - "$scratch/k.yaml" "$scratch/n.yaml" <<'PY'
import sys, yaml
def docs(p):
    with open(p) as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]
def ident(d):
    m = d.get("metadata") or {}
    return d.get("apiVersion", "") + " " + "/".join(
        x for x in (d.get("kind", ""), m.get("namespace", ""), m.get("name", "")) if x)
k, n = docs(sys.argv[1]), docs(sys.argv[2])
out = []
ki, ni = [ident(d) for d in k], [ident(d) for d in n]
if ki != ni:
    out.append("order or documents differ:\n  kustomize: %s\n  kiln:      %s" % (ki, ni))
for d in k:
    for e in n:
        if ident(e) == ident(d) and e != d:
            out.append("%s differs:\n--- kustomize\n%s--- kiln\n%s" % (ident(d),
                yaml.safe_dump(d, sort_keys=True), yaml.safe_dump(e, sort_keys=True)))
print("\n".join(out))
sys.exit(1 if out else 0)
PY
)"; then
    same=$((same + 1)); echo "same    $name"
  else
    differ=$((differ + 1)); echo "DIFFER  $name"; echo "$report" | sed 's/^/    /'
  fi
done
echo "$same same, $differ different"
[ $differ -eq 0 ]
