#!/usr/bin/env bash
# `kiln diff` on a generated fleet after a change to its shared base (one Deployment of the
# base changes in every release), next to the naive review: `diff -ru` of two folders of
# pre-rendered output.
#
#   scripts/compare-diff.sh [N]        (default N=1000)
#
# The fleet is a git repository: `main` holds the fleet, the branch `change` one commit
# that edits base/api/deployment.yaml. kiln diff compares the merge base with the work tree:
#   cold    empty cache: both sides rendered (3 in-process WASM plugins per release)
#   cached  nothing changed since: both sides are cache reads
# The naive baseline gets both sides rendered for free (kiln render -o, not timed) and
# only runs `diff -ru` over the two output folders.
#   WORK      scratch folder (default: a temporary one)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
n="${1:-1000}"
work="${WORK:-$(mktemp -d)}"

# shellcheck source=scripts/lib/release-build.sh
. "$repo/scripts/lib/release-build.sh"

fleet="$work/fleet"
rm -rf "$fleet" "$work/cache" "$work/out-base" "$work/out-head" "$work/parts"
python3 "$repo/scripts/gen-fleet.py" "$fleet" -n "$n" -p 3 \
  $(plugin_arg add-owner) $(plugin_arg set-labels) $(plugin_arg policy) >/dev/null 2>&1
export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@kiln.invalid
export GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@kiln.invalid
git -C "$fleet" init -q -b main
git -C "$fleet" add -A
git -C "$fleet" commit -q -m fleet
# The naive side's inputs: the fleet rendered at main.
"$kiln" render -q --cache-dir "$work/cache-naive" "$fleet/releases" -o "$work/out-base" 2>/dev/null
git -C "$fleet" checkout -q -b change
sed -i 's/maxSurge: "25%"/maxSurge: "50%"/' "$fleet/base/api/deployment.yaml"
git -C "$fleet" commit -q -am "api: surge 50%"
"$kiln" render -q --cache-dir "$work/cache-naive" "$fleet/releases" -o "$work/out-head" 2>/dev/null

now() { date +%s.%N; }
run_diff() {
  local code=0
  ( cd "$fleet" && "$kiln" diff --cache-dir "$work/cache" --output markdown --parts-dir "$work/parts" ) \
    2>"$work/$1.log" || code=$?
  [ "$code" = 1 ] || { echo "kiln diff exited $code:"; cat "$work/$1.log"; exit 1; }
}
t0=$(now); run_diff cold; t1=$(now); cold=$(echo "$t1 - $t0" | bc)
t0=$(now); run_diff cached; t1=$(now); cached=$(echo "$t1 - $t0" | bc)
t0=$(now); diff -ru "$work/out-base" "$work/out-head" >"$work/naive.diff" || true; t1=$(now)
naive=$(echo "$t1 - $t0" | bc)

parts=$(ls "$work/parts" | wc -l)
kiln_bytes=$(cat "$work"/parts/*.md | wc -c)
printf '%-52s %8.2f s  (%s)\n' "kiln diff, cold (both sides rendered, $n releases)" "$cold" "$(tail -1 "$work/cold.log")"
printf '%-52s %8.2f s  (%s)\n' "kiln diff, cached (both sides from the cache)" "$cached" "$(tail -1 "$work/cached.log")"
printf '%-52s %8.2f s\n' "diff -ru of two pre-rendered folders" "$naive"
printf 'review size: kiln %s bytes in %s markdown part(s); diff -ru %s bytes, %s lines\n' \
  "$kiln_bytes" "$parts" "$(wc -c <"$work/naive.diff")" "$(wc -l <"$work/naive.diff")"
