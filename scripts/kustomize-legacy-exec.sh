#!/usr/bin/env bash
# Runs a KRM function built for the host as a kustomize *legacy exec plugin*, so that
# `kubectl kustomize --enable-alpha-plugins` (which cannot run `exec:` KRM functions) can
# run the same plugin code kiln runs as WASM. Used by kustomize-goldens.sh and
# kustomize-diff.sh; not meant to be called by hand.
#
#   kustomize-legacy-exec.sh NATIVE_BINARY CONFIG_FILE < resources.yaml > resources.yaml
#
# The legacy protocol passes the config file in argv and a YAML stream on stdin (empty for
# a generator) and expects a YAML stream on stdout; the KRM function wants a ResourceList.
set -euo pipefail
native="$1"; config="$2"
# The program goes in -c: stdin carries the resources.
program="$(cat <<'PY'
import json, subprocess, sys, yaml
native, config_path = sys.argv[1], sys.argv[2]
with open(config_path) as f:
    config = yaml.safe_load(f)
items = [d for d in yaml.safe_load_all(sys.stdin.read()) if d is not None]
rl = {"apiVersion": "config.kubernetes.io/v1", "kind": "ResourceList",
      "items": items, "functionConfig": config}
run = subprocess.run([native], input=json.dumps(rl).encode(), capture_output=True)
sys.stderr.write(run.stderr.decode(errors="replace"))
if run.returncode != 0:
    sys.exit(run.returncode)
out = yaml.safe_load(run.stdout.decode())
for r in out.get("results") or []:
    if r.get("severity") == "error":
        sys.stderr.write("function error: %s\n" % r.get("message"))
        sys.exit(1)
sys.stdout.write(yaml.safe_dump_all(out.get("items") or [], sort_keys=False))
PY
)"
exec python3 -c "$program" "$native" "$config"
