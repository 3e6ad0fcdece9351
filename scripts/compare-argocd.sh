#!/usr/bin/env bash
# Latency of one Argo CD `generate` request, from process start to exit, for an unchanged
# 42-resource release with 3 WASM plugins (the shape of scripts/gen-fleet.py), and
# requests per second with 8 clients over 100 apps. Takes a few minutes (a release build
# first): run it in the background.
#
#   scripts/compare-argocd.sh [ROUNDS]      (default 60 requests per case)
#
# Each request runs in its own copy of the repository, like argocd-cmp-server's fresh
# folder per request (copies are made before the clock starts), with Argo CD's env:
#   (a) warm `kiln serve`: the client asks the resident engine over $KILN_SOCKET
#   (b) no server: in-process render, disk cache warm
#   (c) a changed release (each request's copy has an edited release.yaml), warm server
#   (d) `kubectl kustomize` of the same overlay, without the plugin steps it cannot run
#   KUBECTL   kubectl to use (default: .peers/kubectl/kubectl, else kubectl on PATH)
#   WORK      scratch folder (default: a temporary one)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
rounds="${1:-60}"
work="${WORK:-$(mktemp -d)}"
kubectl="${KUBECTL:-}"
if [ -z "$kubectl" ]; then
  if [ -x "$repo/.peers/kubectl/kubectl" ]; then kubectl="$repo/.peers/kubectl/kubectl"; else kubectl="$(command -v kubectl)"; fi
fi

# shellcheck source=scripts/lib/release-build.sh
. "$repo/scripts/lib/release-build.sh"
fleet="$work/fleet"
rm -rf "$fleet" "$work/fleet-kustomize"
python3 "$repo/scripts/gen-fleet.py" "$fleet" -n 100 -p 3 \
  $(plugin_arg add-owner) $(plugin_arg set-labels) $(plugin_arg policy) >/dev/null 2>&1
python3 "$repo/scripts/gen-fleet.py" "$work/fleet-kustomize" -n 1 --kustomize >/dev/null 2>&1

KILN="$kiln" KUBECTL="$kubectl" FLEET="$fleet" WORK="$work" ROUNDS="$rounds" python3 - <<'PY'
import os, shutil, signal, socket, statistics, subprocess, sys, time
from concurrent.futures import ThreadPoolExecutor

kiln, kubectl, fleet, work = (os.environ[k] for k in ("KILN", "KUBECTL", "FLEET", "WORK"))
rounds = int(os.environ["ROUNDS"])
cache = os.path.join(work, "cache")
sock = os.path.join(work, "run", "kiln.sock")
copies = os.path.join(work, "copies")
shutil.rmtree(cache, ignore_errors=True)
shutil.rmtree(copies, ignore_errors=True)
os.makedirs(copies)
n_copy = 0

def fresh_copy():
    """A new folder holding the repository, as the cmp-server unpacks one per request."""
    global n_copy
    n_copy += 1
    dst = os.path.join(copies, str(n_copy))
    subprocess.run(["cp", "-a", fleet, dst], check=True)
    return dst

def env_for(app, server):
    env = {
        "PATH": "/usr/bin:/bin", "HOME": work, "KILN_CACHE_DIR": cache,
        "ARGOCD_APP_NAME": app.replace("/", "-"), "ARGOCD_APP_NAMESPACE": "default",
        "ARGOCD_APP_REVISION": "0" * 40, "ARGOCD_APP_SOURCE_PATH": app,
        "ARGOCD_APP_SOURCE_REPO_URL": "https://git.example.com/fleet.git",
        "ARGOCD_APP_SOURCE_TARGET_REVISION": "HEAD",
        "KUBE_VERSION": "1.31.2", "KUBE_API_VERSIONS": "v1,apps/v1,autoscaling/v2,networking.k8s.io/v1",
    }
    if server:
        env["KILN_SOCKET"] = sock
    return env

def generate(root, app, server):
    """Seconds from process start to exit of one `kiln argocd generate`."""
    t0 = time.perf_counter()
    p = subprocess.run([kiln, "argocd", "generate"], cwd=os.path.join(root, app),
                       env=env_for(app, server), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    dt = time.perf_counter() - t0
    if p.returncode != 0 or not p.stdout:
        sys.exit(f"generate failed: {p.stderr.decode()}")
    if server and b"in-process" in p.stderr:
        sys.exit(f"the server did not answer: {p.stderr.decode()}")
    return dt

def report(label, times):
    ms = sorted(t * 1000 for t in times)
    print(f"{label:<52} median {statistics.median(ms):7.2f} ms   p90 {ms[int(len(ms) * 0.9)]:7.2f} ms   (n={len(ms)})")
    return statistics.median(ms)

app = "releases/cust-0001"
# Start the server on an empty cache.
server = subprocess.Popen([kiln, "serve", "--socket", sock], env={"KILN_CACHE_DIR": cache, "PATH": "/usr/bin:/bin"}, stderr=subprocess.DEVNULL)
for _ in range(500):
    try:
        s = socket.socket(socket.AF_UNIX); s.connect(sock); s.close(); break
    except OSError:
        time.sleep(0.01)
try:
    # Warm: every app once through the server (the render key holds the kube facts, so
    # a `kiln render` of the same release is another entry).
    warm = fresh_copy()
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda a: generate(warm, a, True), [f"releases/cust-{i:04d}" for i in range(1, 101)]))
    a = report("(a) warm kiln serve", [generate(fresh_copy(), app, True) for _ in range(rounds)])
    b = report("(b) no server, in-process, disk cache warm", [generate(fresh_copy(), app, False) for _ in range(rounds)])
    times = []
    for i in range(rounds):
        root = fresh_copy()
        with open(os.path.join(root, app, "release.yaml"), "a") as f:
            f.write(f"\n# round {i}\n")
        times.append(generate(root, app, True))
    c = report("(c) changed release, warm kiln serve", times)
    overlay = os.path.join(work, "fleet-kustomize", "kustomize", "overlays", "cust-0001")
    times = []
    for _ in range(max(10, rounds // 3)):
        t0 = time.perf_counter()
        subprocess.run([kubectl, "kustomize", overlay], stdout=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - t0)
    d = report("(d) kubectl kustomize, same overlay, no plugins", times)
    print(f"(d)/(a) = {d / a:.0f}x   (d)/(b) = {d / b:.1f}x   (d)/(c) = {d / c:.1f}x")
    # Throughput: 8 clients, 100 apps, each request in its own copy, warm server.
    apps = [f"releases/cust-{i:04d}" for i in range(1, 101)]
    roots = [fresh_copy() for _ in apps]
    t0 = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda ra: generate(ra[0], ra[1], True), zip(roots, apps)))
    dt = time.perf_counter() - t0
    print(f"throughput, 8 clients over 100 apps, warm kiln serve: {100 / dt:.0f} requests/s ({dt:.2f} s)")
finally:
    server.send_signal(signal.SIGTERM)
    server.wait(timeout=30)
    shutil.rmtree(copies, ignore_errors=True)
PY
