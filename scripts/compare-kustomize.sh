#!/usr/bin/env bash
# Renders one generated fleet with kiln and with real kustomize, in one run, and prints the
# times and the ratios.
#
#   scripts/compare-kustomize.sh [N]        (default N=100; N=1000 takes kustomize ~3 min)
#
# kiln renders each release with 3 in-process WASM plugins (add-owner, set-labels, policy),
# from an empty cache (cold), again with nothing changed (warm), and after one release
# changed. kustomize builds the same fleet as overlays (`kubectl kustomize`, 2 at a time
# with xargs -P2) without the plugin steps: kubectl cannot run KRM exec functions, so the
# kustomize side does strictly less work than kiln here.
#   KUBECTL   kubectl to use (default: .peers/kubectl/kubectl from scripts/fetch-peers.sh,
#             else kubectl on PATH)
#   WORK      scratch folder (default: a temporary one)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
n="${1:-100}"
work="${WORK:-$(mktemp -d)}"
kubectl="${KUBECTL:-}"
if [ -z "$kubectl" ]; then
  if [ -x "$repo/.peers/kubectl/kubectl" ]; then kubectl="$repo/.peers/kubectl/kubectl"; else kubectl="$(command -v kubectl)"; fi
fi
echo "kustomize: $("$kubectl" version --client 2>/dev/null | grep -i kustomize || true)"

# shellcheck source=scripts/lib/release-build.sh
. "$repo/scripts/lib/release-build.sh"

fleet="$work/fleet"
python3 "$repo/scripts/gen-fleet.py" "$fleet" -n "$n" -p 3 \
  $(plugin_arg add-owner) $(plugin_arg set-labels) $(plugin_arg policy) 2>/dev/null
mkdir -p "$fleet/.git"
# The same fleet as kustomize overlays, without the plugin steps kubectl cannot run.
python3 "$repo/scripts/gen-fleet.py" "$work/fleet-kustomize" -n "$n" --kustomize 2>/dev/null

now() { date +%s.%N; }
elapsed() { echo "$(echo "$2 - $1" | bc)"; }

cache="$work/cache"; out="$work/out"
rm -rf "$cache" "$out"
t0=$(now); "$kiln" render -q --cache-dir "$cache" "$fleet/releases" -o "$out" 2>"$work/kiln-cold.log"; t1=$(now)
cold=$(elapsed "$t0" "$t1")
t0=$(now); "$kiln" render -q --cache-dir "$cache" "$fleet/releases" -o "$out" 2>"$work/kiln-warm.log"; t1=$(now)
warm=$(elapsed "$t0" "$t1")
set -- "$fleet"/releases/*
first="$1"
echo "# changed" >> "$first/release.yaml"
t0=$(now); "$kiln" render -q --cache-dir "$cache" "$fleet/releases" -o "$out" 2>"$work/kiln-one.log"; t1=$(now)
one=$(elapsed "$t0" "$t1")
t0=$(now)
ls -d "$work"/fleet-kustomize/kustomize/overlays/* | xargs -P2 -I{} sh -c "\"$kubectl\" kustomize {} > /dev/null"
t1=$(now)
kz=$(elapsed "$t0" "$t1")

printf '%-44s %8.2f s  (%s)\n' "kiln, cold (empty cache, 3 plugins each)" "$cold" "$(tail -1 "$work/kiln-cold.log")"
printf '%-44s %8.2f s  (%s)\n' "kiln, warm (nothing changed)" "$warm" "$(tail -1 "$work/kiln-warm.log")"
printf '%-44s %8.2f s  (%s)\n' "kiln, one release changed" "$one" "$(tail -1 "$work/kiln-one.log")"
printf '%-44s %8.2f s\n' "kubectl kustomize -P2 (no plugins)" "$kz"
printf 'ratio kustomize/kiln: cold %.0fx, warm %.0fx, one changed %.0fx\n' \
  "$(echo "$kz / $cold" | bc -l)" "$(echo "$kz / $warm" | bc -l)" "$(echo "$kz / $one" | bc -l)"
