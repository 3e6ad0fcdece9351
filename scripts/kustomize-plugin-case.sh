#!/usr/bin/env bash
# Prepares a copy of a golden case that runs WASM functions for real kustomize: each
# function config's `wasip1:` annotation is removed and the plugin it names (NAME in
# `file: NAME.wasm`), built for the host from plugins/, is installed as a kustomize
# legacy exec plugin for the config's apiVersion and kind (see kustomize-legacy-exec.sh).
# The host build is the one kiln-test-artifacts made (under target/kiln-plugins, by
# `cargo test`) when there is one, else a debug build of the plugin.
# Used by kustomize-goldens.sh and kustomize-diff.sh.
#
#   kustomize-plugin-case.sh CASE_DIR COPY_DIR
#
# Prints the KUSTOMIZE_PLUGIN_HOME to use with `kubectl kustomize --enable-alpha-plugins`.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
case_dir="$1"; copy="$2"
mkdir -p "$copy"
cp -R "$case_dir/." "$copy/"
home="$copy/.kustomize-plugins"
target="${CARGO_TARGET_DIR:-$repo/target}"
python3 - "$copy" "$home" "$repo" "$target" <<'PY'
import os, re, subprocess, sys, yaml
copy, home, repo, target = sys.argv[1:5]
built = set()
for dirpath, _, files in os.walk(copy):
    for fname in files:
        if not fname.endswith((".yaml", ".yml")):
            continue  # expected.err and other notes name the token too
        path = os.path.join(dirpath, fname)
        try:
            text = open(path).read()
        except UnicodeDecodeError:
            continue
        if "@SHA256:" not in text:
            continue
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
        for d in docs:
            ann = (d.get("metadata") or {}).get("annotations") or {}
            spec = ann.pop("config.kubernetes.io/function", None)
            if spec is None:
                continue
            if not ann:
                d["metadata"].pop("annotations", None)
            name = re.search(r"file:\s*([\w.-]+)\.wasm", spec).group(1)
            crate = "kiln-plugin-" + name
            host = subprocess.run(["rustc", "-vV"], capture_output=True, text=True, cwd=repo).stdout
            host = next((l.split(": ", 1)[1] for l in host.splitlines() if l.startswith("host: ")), "")
            native = os.path.join(target, "kiln-plugins", host, "release", crate)
            if not os.path.isfile(native):
                if crate not in built:
                    subprocess.run(["cargo", "build", "-q", "-p", crate], cwd=repo, check=True)
                    built.add(crate)
                native = os.path.join(target, "debug", crate)
            group_version, kind = d["apiVersion"], d["kind"]
            pdir = os.path.join(home, group_version, kind.lower())
            os.makedirs(pdir, exist_ok=True)
            exe = os.path.join(pdir, kind)
            with open(exe, "w") as f:
                f.write('#!/usr/bin/env bash\nexec "%s/scripts/kustomize-legacy-exec.sh" "%s" "$@"\n' % (repo, native))
            os.chmod(exe, 0o755)
        with open(path, "w") as f:
            yaml.safe_dump_all(docs, f, sort_keys=False)
print(home)
PY
