#!/usr/bin/env bash
# Writes fuzz/seeds/<target>/ from testdata/: the seed corpus of each fuzz target.
# Run it after adding testdata cases; the seeds are committed.
#
#   release_file    every release.yaml
#   yaml_roundtrip  every manifest and expected render
#   patch           a case's manifests, `\n%%\n`, then one of its patch files
#   template        every *.j2 / *.jinja, and each including template `\n%%\n` its include
#   krm_decode      each expected render wrapped in a ResourceList
#   diff            two expected renders, `\n%%\n` between them (each one after the
#                   previous, in name order), and a hand-written Secret case
set -euo pipefail
cd "$(dirname "$0")/.."

seeds=fuzz/seeds
max=16384 # bytes: seeds stay small
rm -rf "$seeds"
mkdir -p "$seeds"/{release_file,yaml_roundtrip,patch,template,krm_decode,diff}

# A seed's name: its testdata path with `/` turned into `-`.
name() { local p=${1#testdata/}; echo "${p//\//-}"; }
small() { [ "$(wc -c <"$1")" -le "$max" ]; }

while IFS= read -r f; do
  small "$f" && cp "$f" "$seeds/release_file/$(name "$f")"
done < <(find testdata -name release.yaml | sort)

declare -A seen # one seed per content: many expected renders repeat their inputs
while IFS= read -r f; do
  small "$f" || continue
  sum=$(sha256sum <"$f" | cut -c1-16)
  [ -z "${seen[$sum]:-}" ] || continue
  seen[$sum]=1
  cp "$f" "$seeds/yaml_roundtrip/$(name "$f")"
done < <(find testdata \( -name '*.yaml' -o -name '*.yml' \) ! -name release.yaml \
  ! -name kustomization.yaml ! -path '*/invalid/*' | sort)

# Patches: the files a release.yaml or kustomization.yaml names with `path:` under
# `patches:`, applied to the case's other manifests.
while IFS= read -r spec; do
  dir=$(dirname "$spec")
  patches=$(sed -n '/^ *patches:/,/^[a-z]/s/^ *-\{0,1\} *path: *//p' "$spec" | tr -d '"'"'")
  [ -n "$patches" ] || continue
  manifests=$(mktemp)
  while IFS= read -r m; do
    rel=${m#"$dir"/}
    grep -qxF "$rel" <<<"$patches" && continue
    { cat "$m"; echo "---"; } >>"$manifests"
  done < <(find "$dir" -maxdepth 2 -name '*.yaml' ! -name release.yaml \
    ! -name kustomization.yaml ! -name expected.yaml | sort)
  while IFS= read -r p; do
    [ -f "$dir/$p" ] || continue
    out="$seeds/patch/$(name "$dir/$p")"
    { cat "$manifests"; printf '\n%%%%\n'; cat "$dir/$p"; } >"$out"
    small "$out" || rm "$out"
  done <<<"$patches"
  rm -f "$manifests"
done < <(find testdata \( -name release.yaml -o -name kustomization.yaml \) | sort)

while IFS= read -r f; do
  small "$f" || continue
  out="$seeds/template/$(name "$f")"
  cp "$f" "$out"
  # An include: the included template follows the including one.
  inc=$(sed -n 's/.*{%-\{0,1\} *include *"\([^"]*\)".*/\1/p' "$f" | head -n1)
  if [ -n "$inc" ] && [ -f "$(dirname "$f")/$inc" ]; then
    sed 's/{%\(-\{0,1\}\) *include *"[^"]*"/{%\1 include "inc.j2"/' "$f" >"$out"
    { printf '\n%%%%\n'; cat "$(dirname "$f")/$inc"; } >>"$out"
  fi
done < <(find testdata \( -name '*.j2' -o -name '*.jinja' \) | sort)

while IFS= read -r f; do
  small "$f" || continue
  {
    printf 'apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n'
    awk 'BEGIN { first = 1 }
      /^---/ { first = 1; next }
      /^(#.*)?$/ && first { next }
      { print (first ? "- " : "  ") $0; first = 0 }' "$f"
  } >"$seeds/krm_decode/$(name "$f")"
done < <(find testdata/releases -name expected.yaml | sort)

prev=""
while IFS= read -r f; do
  if [ -n "$prev" ]; then
    out="$seeds/diff/$(name "$f")"
    { cat "$prev"; printf '\n%%%%\n'; cat "$f"; } >"$out"
    small "$out" || rm "$out"
  fi
  prev=$f
done < <(find testdata/releases -name expected.yaml | sort)
# A Secret whose data changes across a hash rename, a value marked sensitive by the target
# (`fuzz-s3cr3t-value`, in clear and in base64), and a namespace move.
printf 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: db-7k2g4bm9dt\ndata:\n  password: ZnV6ei1zM2NyM3QtdmFsdWU=\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  namespace: a\ndata:\n  url: x://u:fuzz-s3cr3t-value@h\n%%%%\napiVersion: v1\nkind: Secret\nmetadata:\n  name: db-9c2b5h8fmt\ndata:\n  password: b3RoZXI=\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  namespace: b\ndata:\n  url: x://u:fuzz-s3cr3t-value@h2\n' \
  >"$seeds/diff/secret-and-namespace-move"

for d in "$seeds"/*/; do
  echo "$(basename "$d"): $(find "$d" -type f | wc -l) seeds, $(du -sk --apparent-size "$d" | cut -f1) KiB"
done
