#!/usr/bin/env python3
"""Generate a synthetic fleet of kiln releases, for benchmarks and comparisons.

    gen-fleet.py OUT -n N [-p K --plugin NAME=PATH:SHA256 ...] [--kustomize [--exec NAME=PATH ...]]

Layout written under OUT (OUT/.git is not created: the caller decides the project root):

  base/                       42 resources over 8 services (like examples/base): per service
                              a ServiceAccount, a ConfigMap (a *.yaml.j2 template for some),
                              a Deployment, a Service and an HPA; one Ingress; one Secret
                              template fed by a sensitive terraform output
  releases/cust-NNNN/         release.yaml: namespace, images for all 8 services (tags, some
                              digests), 4 patches (strategic merge from a file, strategic
                              merge inline, JSON 6902 on the Ingress, JSON 6902 by label
                              selector), values, tf-outputs.json (`terraform output -json`
                              form), a customer template customer.yaml.j2, and K plugin
                              steps with per-customer config when -p K > 0
  kustomize/                  with --kustomize: the same fleet as kustomize overlays, so
    base/                     `kubectl kustomize kustomize/overlays/cust-NNNN` (or
    overlays/cust-NNNN/       `kiln build`) gives the same documents as
                              `kiln render releases/cust-NNNN`. Templates are rendered here
                              by this script; plugin steps become `transformers:` (a KRM
                              function annotated `exec:` when --exec NAME=PATH names a
                              native build of the plugin, else `wasip1: {file, sha256}`)

Plugins (--plugin NAME=PATH:SHA256, given once per plugin; -p K uses the first K, in the
order given) get a per-customer functionConfig by name: add-owner {team}, set-labels
{labels}, policy {requireLabels}; any other name gets {customer}.

Plugin wasm files are copied to OUT/plugins/NAME.wasm, inside the fleet, since paths in
a release may not leave its project root. Only the Python standard library is used. Output is deterministic for given arguments.
"""
import argparse
import hashlib
import json
import os
import shutil
import sys

REGISTRY = "registry.example.com/kiln"
PART_OF = "kiln-demo"

# name, port, replicas, cpu, memory, ingress path (None: not routed), tier, templated config
SERVICES = [
    ("api", 8080, 3, "500m", "512Mi", "/api", "backend", True),
    ("web", 3000, 2, "250m", "256Mi", "/", "frontend", False),
    ("worker", 9090, 2, "1", "1Gi", None, "backend", True),
    ("scheduler", 9091, 1, "100m", "128Mi", None, "backend", False),
    ("billing", 8443, 2, "500m", "512Mi", None, "backend", True),
    ("search", 9200, 3, "1", "2Gi", None, "backend", False),
    ("notifier", 8081, 1, "100m", "128Mi", None, "backend", False),
    ("gateway", 8000, 2, "250m", "256Mi", "/gateway", "edge", True),
]

# ----------------------------------------------------------------------------- YAML


def scalar(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "null"
    if isinstance(v, (int, float)):
        return str(v)
    s = str(v)
    if "\n" in s or needs_quote(s):
        return json.dumps(s)
    return s


def needs_quote(s):
    if s == "" or s.strip() != s:
        return True
    if s.lower() in ("true", "false", "yes", "no", "on", "off", "null", "~", "y", "n"):
        return True
    try:
        float(s.replace("_", ""))
        return True
    except ValueError:
        pass
    if "{{" in s or "{%" in s:
        return False  # a template expression: written as it is
    return any(c in s for c in ":#{}[],&*!|>'\"%@`") or s[0] in "-?"


def dump(obj, indent=0):
    """A small block-style YAML writer (no third-party module)."""
    pad = "  " * indent
    out = []
    if isinstance(obj, dict):
        if not obj:
            return pad + "{}\n"
        for k, v in obj.items():
            if isinstance(v, (dict, list)) and v:
                if isinstance(v, list):
                    out.append(f"{pad}{k}:\n{dump(v, indent)}")
                else:
                    out.append(f"{pad}{k}:\n{dump(v, indent + 1)}")
            elif isinstance(v, str) and "\n" in v:
                body = "".join(f"{pad}  {line}\n" for line in v.rstrip("\n").split("\n"))
                out.append(f"{pad}{k}: |\n{body}")
            else:
                out.append(f"{pad}{k}: {scalar(v) if not isinstance(v, (dict, list)) else ('{}' if isinstance(v, dict) else '[]')}\n")
    elif isinstance(obj, list):
        if not obj:
            return pad + "[]\n"
        for v in obj:
            if isinstance(v, dict) and v:
                inner = dump(v, indent + 1)
                out.append(f"{pad}- {inner[len(pad) + 2:]}")
            else:
                out.append(f"{pad}- {scalar(v)}\n")
    else:
        out.append(pad + scalar(obj) + "\n")
    return "".join(out)


def docs(*objs):
    return "---\n".join(dump(o) for o in objs)


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


# ----------------------------------------------------------------------------- base


def labels_of(name, tier):
    return {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/part-of": PART_OF,
        "tier": tier,
    }


def image_of(name):
    return f"{REGISTRY}/{name}"


def config_template(name, port):
    """The ConfigMap template of a templated service: (kiln template, python renderer)."""
    j2 = f"""apiVersion: v1
kind: ConfigMap
metadata:
  name: {name}-config
  labels:
    app.kubernetes.io/name: {name}
    app.kubernetes.io/part-of: {PART_OF}
data:
  SERVICE_NAME: {name}
  PORT: "{port}"
  LOG_LEVEL: {{{{ values.logLevel }}}}
  REGION: {{{{ values.region }}}}
  RELEASE: {{{{ release.name }}}}
  IMAGE: {{{{ images["{image_of(name)}"] }}}}
  DB_HOST: {{{{ values.db_host }}}}
  FEATURES: "{{{{ values.features | join(',') }}}}"
"""

    def render(ctx):
        return f"""apiVersion: v1
kind: ConfigMap
metadata:
  name: {name}-config
  labels:
    app.kubernetes.io/name: {name}
    app.kubernetes.io/part-of: {PART_OF}
data:
  SERVICE_NAME: {name}
  PORT: "{port}"
  LOG_LEVEL: {ctx['values']['logLevel']}
  REGION: {ctx['values']['region']}
  RELEASE: {ctx['release']}
  IMAGE: {ctx['images'][image_of(name)]}
  DB_HOST: {ctx['values']['db_host']}
  FEATURES: "{','.join(ctx['values']['features'])}"
"""

    return j2, render


SECRET_J2 = f"""# The database password is a sensitive terraform output: it belongs in this Secret and
# nowhere else (kiln keeps it out of its messages).
apiVersion: v1
kind: Secret
metadata:
  name: db-credentials
  labels:
    app.kubernetes.io/name: db-credentials
    app.kubernetes.io/part-of: {PART_OF}
type: Opaque
stringData:
  DB_HOST: {{{{ values.db_host }}}}
  DB_USER: {{{{ values.db_user }}}}
  DB_PASSWORD: {{{{ values.db_password | tojson }}}}
"""


def render_secret(ctx):
    v = ctx["values"]
    return f"""apiVersion: v1
kind: Secret
metadata:
  name: db-credentials
  labels:
    app.kubernetes.io/name: db-credentials
    app.kubernetes.io/part-of: {PART_OF}
type: Opaque
stringData:
  DB_HOST: {v['db_host']}
  DB_USER: {v['db_user']}
  DB_PASSWORD: {json.dumps(v['db_password'])}
"""


def service_files(name, port, replicas, cpu, mem, tier, templated):
    """{relative path: text} of one service's files, and the renderers of its templates."""
    labels = labels_of(name, tier)
    selector = {"app.kubernetes.io/name": name}
    files, renderers = {}, {}
    files["serviceaccount.yaml"] = dump(
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "labels": labels}}
    )
    if templated:
        j2, render = config_template(name, port)
        files["configmap.yaml.j2"] = j2
        renderers["configmap.yaml.j2"] = render
    else:
        files["configmap.yaml"] = dump(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": f"{name}-config", "labels": labels},
                "data": {
                    "SERVICE_NAME": name,
                    "PORT": str(port),
                    "LOG_LEVEL": "info",
                    "UPSTREAM_TIMEOUT": "30s",
                },
            }
        )
    env = [
        {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
    ]
    if tier == "backend" and name not in ("scheduler", "notifier"):
        env.append(
            {
                "name": "DB_PASSWORD",
                "valueFrom": {"secretKeyRef": {"name": "db-credentials", "key": "DB_PASSWORD"}},
            }
        )
    files["deployment.yaml"] = dump(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "labels": labels},
            "spec": {
                "replicas": replicas,
                "revisionHistoryLimit": 5,
                "selector": {"matchLabels": selector},
                "strategy": {
                    "type": "RollingUpdate",
                    "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0},
                },
                "template": {
                    "metadata": {
                        "labels": labels,
                        "annotations": {"prometheus.io/scrape": "true", "prometheus.io/port": str(port)},
                    },
                    "spec": {
                        "serviceAccountName": name,
                        "securityContext": {"runAsNonRoot": True, "runAsUser": 10001},
                        "containers": [
                            {
                                "name": name,
                                "image": f"{image_of(name)}:1.0.0",
                                "ports": [{"name": "http", "containerPort": port, "protocol": "TCP"}],
                                "envFrom": [{"configMapRef": {"name": f"{name}-config"}}],
                                "env": env,
                                "resources": {
                                    "requests": {"cpu": cpu, "memory": mem},
                                    "limits": {"cpu": cpu, "memory": mem},
                                },
                                "readinessProbe": {
                                    "httpGet": {"path": "/ready", "port": "http"},
                                    "periodSeconds": 5,
                                },
                                "livenessProbe": {
                                    "httpGet": {"path": "/healthz", "port": "http"},
                                    "initialDelaySeconds": 10,
                                    "periodSeconds": 10,
                                },
                            }
                        ],
                    },
                },
            },
        }
    )
    files["service.yaml"] = dump(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "labels": labels},
            "spec": {
                "selector": selector,
                "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
            },
        }
    )
    files["hpa.yaml"] = dump(
        {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": name, "labels": labels},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                "minReplicas": replicas,
                "maxReplicas": replicas * 4,
                "metrics": [
                    {
                        "type": "Resource",
                        "resource": {
                            "name": "cpu",
                            "target": {"type": "Utilization", "averageUtilization": 70},
                        },
                    }
                ],
            },
        }
    )
    return files, renderers


def ingress():
    paths = [
        {
            "path": path,
            "pathType": "Prefix",
            "backend": {"service": {"name": name, "port": {"name": "http"}}},
        }
        for name, _, _, _, _, path, _, _ in SERVICES
        if path
    ]
    return dump(
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": {
                "name": "app",
                "labels": {"app.kubernetes.io/name": "app", "app.kubernetes.io/part-of": PART_OF},
                "annotations": {"nginx.ingress.kubernetes.io/proxy-body-size": "8m"},
            },
            "spec": {
                "ingressClassName": "nginx",
                "tls": [{"hosts": ["app.example.com"], "secretName": "app-tls"}],
                "rules": [{"host": "app.example.com", "http": {"paths": paths}}],
            },
        }
    )


def base_files():
    """{path under base/: text} and {template path: renderer}."""
    files, renderers = {}, {}
    for name, port, replicas, cpu, mem, _, tier, templated in SERVICES:
        f, r = service_files(name, port, replicas, cpu, mem, tier, templated)
        files.update({f"{name}/{k}": v for k, v in f.items()})
        renderers.update({f"{name}/{k}": v for k, v in r.items()})
    files["ingress.yaml"] = ingress()
    files["db-credentials.yaml.j2"] = SECRET_J2
    renderers["db-credentials.yaml.j2"] = render_secret
    return files, renderers


def write_base(out):
    files, _ = base_files()
    for rel, text in files.items():
        write(os.path.join(out, rel), text)


# ----------------------------------------------------------------------------- customers


def digest_of(s):
    return "sha256:" + hashlib.sha256(s.encode()).hexdigest()


def customer(i):
    """Everything that varies by customer, derived from its index."""
    name = f"cust-{i:04d}"
    regions = ["eu-west-1", "us-east-1", "ap-southeast-2", "eu-central-1"]
    images = []
    for j, (svc, *_rest) in enumerate(SERVICES):
        entry = {"name": image_of(svc)}
        if (i + j) % 5 == 0:
            entry["digest"] = digest_of(f"{svc}-{i}")
        else:
            entry["newTag"] = f"1.{(i + j) % 20}.{i % 7}"
        images.append(entry)
    return {
        "name": name,
        "namespace": name,
        "host": f"{name}.app.example.com",
        "values": {
            "logLevel": ["info", "debug", "warn"][i % 3],
            "region": regions[i % len(regions)],
            "features": ["search", "billing", "reports"][: 1 + i % 3],
            "tier": ["standard", "gold", "platinum"][i % 3],
        },
        "tf": {
            "db_host": {"sensitive": False, "type": "string", "value": f"{name}.db.{regions[i % len(regions)]}.internal"},
            "db_user": {"sensitive": False, "type": "string", "value": "app"},
            "db_password": {"sensitive": True, "type": "string", "value": hashlib.sha256(f"pw-{i}".encode()).hexdigest()[:24]},
            "bucket": {"sensitive": False, "type": "string", "value": f"{name}-assets"},
        },
        "images": images,
        "replicas": {"api": 2 + i % 4, "web": 2 + i % 3},
        "worker_memory": ["1Gi", "2Gi", "4Gi"][i % 3],
    }


def resolved_images(c):
    out = {}
    for e in c["images"]:
        if "digest" in e:
            out[e["name"]] = f"{e.get('newName', e['name'])}@{e['digest']}"
        else:
            out[e["name"]] = f"{e.get('newName', e['name'])}:{e['newTag']}"
    return out


CUSTOMER_J2 = """apiVersion: v1
kind: ConfigMap
metadata:
  name: customer
  labels:
    app.kubernetes.io/name: customer
    app.kubernetes.io/part-of: kiln-demo
data:
  CUSTOMER: {{ release.name }}
  TIER: {{ values.tier }}
  BUCKET: {{ values.bucket }}
{%- for f in values.features %}
  FEATURE_{{ f | upper }}: "true"
{%- endfor %}
"""


def render_customer(ctx):
    v = ctx["values"]
    feats = "".join(f'\n  FEATURE_{f.upper()}: "true"' for f in v["features"])
    return f"""apiVersion: v1
kind: ConfigMap
metadata:
  name: customer
  labels:
    app.kubernetes.io/name: customer
    app.kubernetes.io/part-of: kiln-demo
data:
  CUSTOMER: {ctx['release']}
  TIER: {v['tier']}
  BUCKET: {v['bucket']}{feats}
"""


def replicas_patch(c):
    docs_ = []
    for svc, n in c["replicas"].items():
        docs_.append({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": svc}, "spec": {"replicas": n}})
        docs_.append(
            {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": svc}, "spec": {"minReplicas": n}}
        )
    return docs(*docs_)


def inline_patches(c):
    """The patches written inline in the release (and in the kustomization)."""
    mem = c["worker_memory"]
    return [
        {
            "patch": dump(
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "metadata": {"name": "worker"},
                    "spec": {
                        "template": {
                            "spec": {
                                "containers": [
                                    {"name": "worker", "resources": {"requests": {"memory": mem}, "limits": {"memory": mem}}}
                                ]
                            }
                        }
                    },
                }
            )
        },
        {
            "target": {"group": "networking.k8s.io", "version": "v1", "kind": "Ingress", "name": "app"},
            "patch": dump(
                [
                    {"op": "replace", "path": "/spec/rules/0/host", "value": c["host"]},
                    {"op": "replace", "path": "/spec/tls/0/hosts/0", "value": c["host"]},
                    {"op": "replace", "path": "/spec/tls/0/secretName", "value": f"{c['name']}-tls"},
                ]
            ),
        },
        {
            "target": {"kind": "Deployment", "labelSelector": "tier=backend"},
            "patch": dump(
                [
                    {
                        "op": "add",
                        "path": "/spec/template/metadata/annotations/kiln.dev~1customer",
                        "value": c["name"],
                    }
                ]
            ),
        },
    ]


def plugin_config(name, c, i):
    if name == "add-owner":
        return {"team": ["payments", "platform", "search"][i % 3]}
    if name == "set-labels":
        return {"labels": {"kiln.dev/customer": c["name"], "kiln.dev/tier": c["values"]["tier"]}}
    if name == "policy":
        return {"requireLabels": ["app.kubernetes.io/name"]}
    return {"customer": c["name"]}


def patch_entry_yaml(p, indent):
    """A patches entry as YAML lines (inline patches as literal blocks)."""
    pad = " " * indent
    lines = []
    first = True
    if "target" in p:
        t = ", ".join(f"{k}: {scalar(v)}" for k, v in p["target"].items())
        lines.append(f"{pad}- target: {{{t}}}")
        first = False
    if "path" in p:
        lines.append(f"{pad}{'- ' if first else '  '}path: {p['path']}")
    else:
        lines.append(f"{pad}{'- ' if first else '  '}patch: |-")
        lines += [f"{pad}    {l}" for l in p["patch"].rstrip("\n").split("\n")]
    return "\n".join(lines) + "\n"


def write_release(out, i, plugins, k):
    c = customer(i)
    d = os.path.join(out, "releases", c["name"])
    write(os.path.join(d, "tf-outputs.json"), json.dumps(c["tf"], indent=2, sort_keys=True) + "\n")
    write(os.path.join(d, "customer.yaml.j2"), CUSTOMER_J2)
    write(os.path.join(d, "patches", "replicas.yaml"), replicas_patch(c))
    patches = [{"path": "patches/replicas.yaml"}] + inline_patches(c)
    text = f"""apiVersion: kiln.dev/v1alpha1
kind: Release
metadata:
  name: {c['name']}
spec:
  resources:
    - ../../base
    - customer.yaml.j2
  namespace: {c['namespace']}
  valuesFiles:
    - tf-outputs.json
  values:
{dump(c['values'], 2)}  images:
"""
    for e in c["images"]:
        text += "    - " + ", ".join(f"{key}: {scalar(v)}" for key, v in e.items()).replace(", ", "\n      ") + "\n"
    text += "  patches:\n" + "".join(patch_entry_yaml(p, 4) for p in patches)
    if k:
        text += "  plugins:\n"
        for name, path, sha in plugins[:k]:
            rel = os.path.relpath(os.path.abspath(path), os.path.abspath(d))
            cfg = json.dumps(plugin_config(name, c, i), sort_keys=True)
            text += f"    - name: {name}\n      wasm: {rel}\n      sha256: {sha}\n      config: {cfg}\n"
    write(os.path.join(d, "release.yaml"), text)
    return c, patches


# ----------------------------------------------------------------------------- kustomize


def write_kustomize(out, customers, plugins, k, execs):
    files, renderers = base_files()
    kb = os.path.join(out, "kustomize", "base")
    plain = sorted(p for p in files if p not in renderers)
    for rel in plain:
        write(os.path.join(kb, rel), files[rel])
    write(os.path.join(kb, "kustomization.yaml"), dump({"resources": plain}))
    for c, patches in customers:
        d = os.path.join(out, "kustomize", "overlays", c["name"])
        values = {key: v["value"] for key, v in c["tf"].items()}
        values.update(c["values"])
        ctx = {"values": values, "images": resolved_images(c), "release": c["name"]}
        rendered = [renderers[p](ctx) for p in sorted(renderers)] + [render_customer(ctx)]
        write(os.path.join(d, "rendered.yaml"), "---\n".join(rendered))
        shutil.copyfile(
            os.path.join(out, "releases", c["name"], "patches", "replicas.yaml"),
            os.path.join(d, "replicas.yaml"),
        )
        text = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        text += "resources:\n  - ../../base\n  - rendered.yaml\n"
        text += f"namespace: {c['namespace']}\nimages:\n"
        for e in c["images"]:
            text += "  - " + ", ".join(f"{key}: {scalar(v)}" for key, v in e.items()).replace(", ", "\n    ") + "\n"
        kp = [{"path": "replicas.yaml"}] + patches[1:]
        text += "patches:\n" + "".join(patch_entry_yaml(p, 2) for p in kp)
        if k:
            text += "transformers:\n"
            for n, (name, path, sha) in enumerate(plugins[:k]):
                fn = f"fn-{n}-{name}.yaml"
                text += f"  - {fn}\n"
                if name in execs:
                    spec = f"exec:\n        path: {os.path.abspath(execs[name])}"
                else:
                    rel = os.path.relpath(os.path.abspath(path), os.path.abspath(d))
                    spec = f"wasip1:\n        file: {rel}\n        sha256: {sha}"
                # The functionConfig is this whole resource; a ConfigMap's `data` is what
                # the kiln-plugin SDK hands to the function as its config.
                body = plugin_config(name, c, int(c["name"].split("-")[1]))
                write(
                    os.path.join(d, fn),
                    f"""apiVersion: v1
kind: ConfigMap
metadata:
  name: {name}
  annotations:
    config.kubernetes.io/function: |
      {spec}
"""
                    + dump({"data": body}),
                )
        write(os.path.join(d, "kustomization.yaml"), text)


# ----------------------------------------------------------------------------- main


def parse_plugin(s):
    try:
        name, rest = s.split("=", 1)
        path, sha = rest.rsplit(":", 1)
    except ValueError:
        raise argparse.ArgumentTypeError(f"`{s}`: expected NAME=PATH:SHA256")
    if len(sha) != 64 or any(ch not in "0123456789abcdef" for ch in sha):
        raise argparse.ArgumentTypeError(f"`{s}`: the sha256 must be 64 lowercase hex digits")
    return name, path, sha


def parse_exec(s):
    if "=" not in s:
        raise argparse.ArgumentTypeError(f"`{s}`: expected NAME=PATH")
    return tuple(s.split("=", 1))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", help="output folder (created; base/, releases/ and kustomize/ in it are replaced)")
    ap.add_argument("-n", type=int, default=10, help="number of customers (default 10)")
    ap.add_argument("-p", type=int, default=0, help="plugin steps per release (default 0)")
    ap.add_argument("--plugin", action="append", default=[], type=parse_plugin, metavar="NAME=PATH:SHA256")
    ap.add_argument("--kustomize", action="store_true", help="also write the fleet as kustomize overlays")
    ap.add_argument("--exec", action="append", default=[], type=parse_exec, metavar="NAME=PATH",
                    help="with --kustomize: a native build of a plugin, run as an exec KRM function")
    a = ap.parse_args(argv)
    if a.n < 0 or a.p < 0:
        ap.error("-n and -p must not be negative")
    if a.p > len(a.plugin):
        ap.error(f"-p {a.p} needs at least {a.p} --plugin arguments, got {len(a.plugin)}")
    for sub in ("base", "releases", "kustomize", "plugins"):
        shutil.rmtree(os.path.join(a.out, sub), ignore_errors=True)
    # Plugins are copied into the fleet: release paths may not leave the project root.
    copied = []
    for name, path, sha in a.plugin:
        dest = os.path.join(a.out, "plugins", f"{name}.wasm")
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        shutil.copyfile(path, dest)
        copied.append((name, dest, sha))
    a.plugin = copied
    write_base(os.path.join(a.out, "base"))
    customers = [write_release(a.out, i, a.plugin, a.p) for i in range(1, a.n + 1)]
    if a.kustomize:
        write_kustomize(a.out, customers, a.plugin, a.p, dict(a.exec))
    print(f"wrote {a.n} releases to {os.path.join(a.out, 'releases')}", file=sys.stderr)


if __name__ == "__main__":
    main()
