#!/usr/bin/python3
"""Checks deploy/k8s/*.yaml and deploy/Dockerfile for octet serve.

Parses every YAML file in the manifests folder (multi-document files are
fine) and cross-checks what must agree between them and the Dockerfile: the
port (container port, --port, Service targetPort, probes, EXPOSE, the image's
HEALTHCHECK), /health on every probe, the HPA's target and metrics, --threads
against the CPU limit, terminationGracePeriodSeconds against --grace, the
model volume and the non-root user.

Prints one line per check ("ok" or "FAIL" and why) and exits 1 if any failed.
It does not talk to a cluster or to Docker: it is a static check.

    /usr/bin/python3 deploy/check_manifests.py [--k8s DIR] [--dockerfile FILE]

Needs PyYAML (Debian 12: python3-yaml).
"""

import argparse
import json
import re
import shlex
import sys
from pathlib import Path

try:
    import yaml
except ImportError:  # pragma: no cover
    sys.stderr.write("check_manifests.py: PyYAML is missing (Debian: apt-get install python3-yaml)\n")
    sys.exit(2)

HERE = Path(__file__).resolve().parent


class Checker:
    def __init__(self):
        self.failures = 0
        self.count = 0

    def check(self, ok, what, why=""):
        self.count += 1
        if ok:
            print(f"ok    {what}")
        else:
            self.failures += 1
            print(f"FAIL  {what}" + (f": {why}" if why else ""))
        return ok


# ---- helpers -------------------------------------------------------------------------


def parse_cpu(value):
    """'4' / 4 / '4000m' / '0.5' -> cores as a float; None if unreadable."""
    if value is None:
        return None
    s = str(value).strip()
    try:
        if s.endswith("m"):
            return float(s[:-1]) / 1000.0
        return float(s)
    except ValueError:
        return None


_UNITS = {
    "": 1, "k": 1000, "K": 1000, "M": 1000**2, "G": 1000**3, "T": 1000**4,
    "Ki": 1024, "Mi": 1024**2, "Gi": 1024**3, "Ti": 1024**4,
    "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3, "TiB": 1024**4,
    "KB": 1000, "MB": 1000**2, "GB": 1000**3, "TB": 1000**4, "B": 1,
}


def parse_bytes(value):
    """Kubernetes quantities (2Gi, 512Mi) and octet's --kv-budget (512MiB, bytes) -> bytes."""
    if value is None:
        return None
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*", str(value))
    if not m or m.group(2) not in _UNITS:
        return None
    return int(float(m.group(1)) * _UNITS[m.group(2)])


def parse_serve_args(args):
    """octet serve's argv (after 'serve') -> ({'--flag': 'value'}, [positionals]).

    Every option of `octet serve` takes a value; --flag=value is accepted too."""
    flags, positionals = {}, []
    i = 0
    while i < len(args):
        a = str(args[i])
        if a.startswith("--"):
            if "=" in a:
                k, v = a.split("=", 1)
                flags[k] = v
            else:
                flags[a] = str(args[i + 1]) if i + 1 < len(args) else None
                i += 1
        else:
            positionals.append(a)
        i += 1
    return flags, positionals


def as_int(value):
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


def labels_match(selector, labels):
    return bool(selector) and all((labels or {}).get(k) == v for k, v in selector.items())


# ---- the Dockerfile ---------------------------------------------------------------------


def read_dockerfile(path):
    """The runtime (last) stage's instructions as (KEYWORD, rest) with continuations joined."""
    text = path.read_text()
    logical, cur = [], ""
    for line in text.splitlines():
        stripped = line.strip()
        if not cur and (not stripped or stripped.startswith("#")):
            continue
        if cur and stripped.startswith("#"):
            continue  # a comment inside a continued instruction
        if stripped.endswith("\\"):
            cur += stripped[:-1] + " "
            continue
        cur += stripped
        logical.append(cur)
        cur = ""
    if cur:
        logical.append(cur)
    stages = []
    for ins in logical:
        kw, _, rest = ins.partition(" ")
        kw = kw.upper()
        if kw == "FROM":
            stages.append([])
        if stages:
            stages[-1].append((kw, rest.strip()))
    return stages


def exec_form(rest):
    try:
        v = json.loads(rest)
        return v if isinstance(v, list) else None
    except json.JSONDecodeError:
        return None


# ---- main -------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--k8s", type=Path, default=HERE / "k8s", help="manifests folder (default: deploy/k8s)")
    ap.add_argument("--dockerfile", type=Path, default=HERE / "Dockerfile", help="default: deploy/Dockerfile")
    opts = ap.parse_args()
    c = Checker()

    # -- parse every manifest --
    files = sorted(list(opts.k8s.glob("*.yaml")) + list(opts.k8s.glob("*.yml")))
    if not c.check(bool(files), f"manifests found in {opts.k8s}", "no *.yaml files"):
        return finish(c)
    objects = []  # (file name, document)
    for f in files:
        try:
            docs = [d for d in yaml.safe_load_all(f.read_text()) if d is not None]
        except yaml.YAMLError as e:
            c.check(False, f"{f.name}: YAML parses", str(e).replace("\n", " "))
            continue
        c.check(bool(docs), f"{f.name}: YAML parses ({len(docs)} document{'s' if len(docs) != 1 else ''})",
                "no documents")
        for i, d in enumerate(docs):
            where = f"{f.name}[{i}]"
            if not isinstance(d, dict):
                c.check(False, f"{where}: is a mapping", f"got {type(d).__name__}")
                continue
            missing = [k for k in ("apiVersion", "kind") if not d.get(k)]
            if not (d.get("metadata") or {}).get("name"):
                missing.append("metadata.name")
            c.check(not missing, f"{where}: {d.get('kind', '?')} {((d.get('metadata') or {}).get('name')) or '?'} "
                    f"has apiVersion, kind, metadata.name", "missing " + ", ".join(missing))
            objects.append((f.name, d))

    def of_kind(kind):
        return [d for _, d in objects if d.get("kind") == kind]

    deployments, services, hpas = of_kind("Deployment"), of_kind("Service"), of_kind("HorizontalPodAutoscaler")
    monitors, pvcs = of_kind("ServiceMonitor"), of_kind("PersistentVolumeClaim")
    c.check(len(deployments) == 1, "exactly one Deployment", f"found {len(deployments)}")
    c.check(len(services) == 1, "exactly one Service", f"found {len(services)}")
    c.check(len(hpas) == 1, "exactly one HorizontalPodAutoscaler", f"found {len(hpas)}")
    if len(deployments) != 1:
        return finish(c)
    dep = deployments[0]
    dep_name = dep["metadata"]["name"]
    c.check(dep.get("apiVersion") == "apps/v1", "Deployment apiVersion is apps/v1", f"got {dep.get('apiVersion')}")
    spec = dep.get("spec") or {}
    tmpl = spec.get("template") or {}
    pod = tmpl.get("spec") or {}
    pod_labels = (tmpl.get("metadata") or {}).get("labels") or {}
    c.check(labels_match((spec.get("selector") or {}).get("matchLabels"), pod_labels),
            "Deployment selector matches its pod template labels",
            f"selector {(spec.get('selector') or {}).get('matchLabels')} vs labels {pod_labels}")

    containers = pod.get("containers") or []
    server = next((x for x in containers if "serve" in " ".join(map(str, (x.get("command") or []) + (x.get("args") or [])))
                   or x.get("name") == "octet"), containers[0] if containers else None)
    if not c.check(server is not None, "Deployment has the octet container"):
        return finish(c)
    flags, positionals = parse_serve_args(server.get("args") or [])

    # -- port --
    port_arg = as_int(flags.get("--port"))
    c.check(port_arg is not None, "args set --port", f"--port is {flags.get('--port')!r}")
    ports = server.get("ports") or []
    port_names = {p.get("name"): p.get("containerPort") for p in ports if p.get("name")}
    cports = [p.get("containerPort") for p in ports]
    c.check(port_arg in cports, f"containerPort equals --port ({port_arg})", f"containerPorts {cports}")

    def resolve(port):
        return port_names.get(port, port) if isinstance(port, str) else port

    c.check(flags.get("--host") == "0.0.0.0", "args bind --host 0.0.0.0 (the default 127.0.0.1 is unreachable in a pod)",
            f"--host is {flags.get('--host')!r}")

    # -- model --
    mounts = {m.get("name"): m for m in server.get("volumeMounts") or []}
    model = positionals[0] if positionals else None
    c.check(len(positionals) == 1, "args name exactly one MODEL", f"positionals {positionals}")
    model_mount = next((m for m in mounts.values() if model and model.startswith(m.get("mountPath", "\0").rstrip("/") + "/")),
                       None)
    c.check(model_mount is not None, f"MODEL {model} lies under a volumeMount", f"mounts {[m.get('mountPath') for m in mounts.values()]}")
    if model_mount:
        vol = next((v for v in pod.get("volumes") or [] if v.get("name") == model_mount.get("name")), None)
        c.check(vol is not None, f"volume {model_mount.get('name')} is defined")
        claim = ((vol or {}).get("persistentVolumeClaim") or {}).get("claimName")
        if claim:
            names = [p["metadata"]["name"] for p in pvcs]
            c.check(claim in names, f"PersistentVolumeClaim {claim} is in the manifests", f"PVCs: {names}")
        c.check(model_mount.get("readOnly") is True, "model volume is mounted readOnly")

    # -- probes --
    for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
        probe = server.get(kind)
        if not c.check(isinstance(probe, dict), f"{kind} present"):
            continue
        hg = probe.get("httpGet") or {}
        c.check(hg.get("path") == "/health", f"{kind} is httpGet /health", f"path {hg.get('path')!r}")
        c.check(resolve(hg.get("port")) == port_arg, f"{kind} port is the server port ({port_arg})",
                f"port {hg.get('port')!r} -> {resolve(hg.get('port'))!r}")

    # -- threads = CPU limit --
    limits = (server.get("resources") or {}).get("limits") or {}
    requests = (server.get("resources") or {}).get("requests") or {}
    cpu_limit = parse_cpu(limits.get("cpu"))
    threads = as_int(flags.get("--threads"))
    c.check(cpu_limit is not None and cpu_limit == int(cpu_limit), "CPU limit is a whole number of cores",
            f"limits.cpu {limits.get('cpu')!r}")
    c.check(threads is not None and cpu_limit is not None and threads == cpu_limit,
            f"--threads equals the CPU limit ({flags.get('--threads')} vs {limits.get('cpu')})",
            f"--threads {flags.get('--threads')!r}, limits.cpu {limits.get('cpu')!r}")
    c.check(parse_cpu(requests.get("cpu")) is not None, "CPU request set (the HPA's utilization is relative to it)")

    # -- memory vs KV budget --
    mem_limit = parse_bytes(limits.get("memory"))
    mem_request = parse_bytes(requests.get("memory"))
    kv = parse_bytes(flags.get("--kv-budget")) if flags.get("--kv-budget") else None
    c.check(mem_limit is not None and mem_request is not None, "memory request and limit set",
            f"requests {requests.get('memory')!r}, limits {limits.get('memory')!r}")
    if kv is not None and mem_limit is not None:
        c.check(mem_limit > kv, f"memory limit exceeds --kv-budget ({limits.get('memory')} > {flags.get('--kv-budget')})")

    # -- grace --
    tgps = pod.get("terminationGracePeriodSeconds")
    grace = as_int(flags.get("--grace"))
    c.check(grace is not None, "args set --grace", f"--grace is {flags.get('--grace')!r}")
    c.check(isinstance(tgps, int) and grace is not None and tgps > grace,
            f"terminationGracePeriodSeconds > --grace ({tgps} > {flags.get('--grace')})",
            "the kubelet would SIGKILL before the drain ends")

    # -- security --
    psc, csc = pod.get("securityContext") or {}, server.get("securityContext") or {}
    run_as_non_root = csc.get("runAsNonRoot", psc.get("runAsNonRoot"))
    run_as_user = csc.get("runAsUser", psc.get("runAsUser"))
    c.check(run_as_non_root is True, "runAsNonRoot: true")
    c.check(csc.get("readOnlyRootFilesystem") is True, "readOnlyRootFilesystem: true")

    # -- Service --
    if len(services) == 1:
        svc = services[0]
        sports = (svc.get("spec") or {}).get("ports") or []
        c.check(labels_match((svc.get("spec") or {}).get("selector"), pod_labels),
                "Service selector matches the pod labels")
        c.check(len(sports) == 1 and resolve(sports[0].get("targetPort")) == port_arg,
                f"Service targetPort equals --port ({port_arg})",
                f"targetPorts {[p.get('targetPort') for p in sports]}")
        c.check((svc.get("spec") or {}).get("type", "ClusterIP") == "ClusterIP" and sports and sports[0].get("port") == 80,
                "Service is ClusterIP on port 80")
        for mon in monitors:
            eps = (mon.get("spec") or {}).get("endpoints") or []
            c.check(labels_match(((mon.get("spec") or {}).get("selector") or {}).get("matchLabels"),
                                 (svc.get("metadata") or {}).get("labels")),
                    f"ServiceMonitor {mon['metadata']['name']} selects the Service")
            names = {p.get("name") for p in sports}
            c.check(bool(eps) and all(e.get("port") in names and e.get("path") == "/metrics" for e in eps),
                    "ServiceMonitor scrapes /metrics on the Service's named port",
                    f"endpoints {eps}, service port names {sorted(n for n in names if n)}")

    # -- HPA --
    if len(hpas) == 1:
        hpa = hpas[0]
        hs = hpa.get("spec") or {}
        ref = hs.get("scaleTargetRef") or {}
        c.check(hpa.get("apiVersion") == "autoscaling/v2", "HPA apiVersion is autoscaling/v2", f"got {hpa.get('apiVersion')}")
        c.check(ref.get("kind") == "Deployment" and ref.get("name") == dep_name and ref.get("apiVersion") == "apps/v1",
                f"HPA scaleTargetRef is Deployment {dep_name}", f"got {ref}")
        metrics = hs.get("metrics") or []
        pods_metrics = [((m.get("pods") or {}).get("metric") or {}).get("name") for m in metrics if m.get("type") == "Pods"]
        cpu = [m for m in metrics if m.get("type") == "Resource" and (m.get("resource") or {}).get("name") == "cpu"]
        c.check(any(n and n.startswith("octet_") for n in pods_metrics), "HPA scales on a Pods metric from /metrics",
                f"Pods metrics {pods_metrics}")
        c.check(bool(cpu), "HPA scales on CPU utilization too")
        mn, mx = hs.get("minReplicas", 1), hs.get("maxReplicas")
        c.check(isinstance(mx, int) and isinstance(mn, int) and 1 <= mn <= mx, f"HPA replicas {mn}..{mx}")

    # -- the Dockerfile --
    df = opts.dockerfile
    if c.check(df.is_file(), f"Dockerfile {df.name} present", str(df)):
        stages = read_dockerfile(df)
        c.check(bool(stages) and all(s[0][1].split()[0].startswith("debian:12") for s in stages),
                "Dockerfile stages are FROM debian:12", f"{[s[0][1] for s in stages]}")
        c.check(len(stages) >= 2, "Dockerfile is multi-stage", f"{len(stages)} stage(s)")
        final = stages[-1] if stages else []
        expose = [as_int(p.split("/")[0]) for kw, rest in final if kw == "EXPOSE" for p in rest.split()]
        c.check(port_arg in expose, f"Dockerfile EXPOSE equals --port ({port_arg})", f"EXPOSE {expose}")
        entry = next((exec_form(r) for kw, r in final if kw == "ENTRYPOINT"), None)
        c.check(entry == ["octet", "serve"], 'ENTRYPOINT ["octet", "serve"]', f"got {entry}")
        cmd = next((exec_form(r) for kw, r in final if kw == "CMD"), None) or []
        cflags, cpos = parse_serve_args(cmd)
        c.check(as_int(cflags.get("--port")) == port_arg and cflags.get("--host") == "0.0.0.0" and cpos == ["/models/model"],
                "CMD serves /models/model on 0.0.0.0 and the same port", f"CMD {cmd}")
        hc = " ".join(r for kw, r in final if kw == "HEALTHCHECK")
        m = re.search(r"/dev/tcp/[^/\s]+/(\d+)", hc) or re.search(r"localhost:(\d+)|127\.0\.0\.1:(\d+)", hc)
        hc_port = as_int(next((g for g in m.groups() if g), None)) if m else None
        c.check("/health" in hc and hc_port == port_arg, f"HEALTHCHECK asks /health on the same port ({port_arg})",
                f"HEALTHCHECK {hc!r}")
        user = next((r for kw, r in reversed(final) if kw == "USER"), None)
        uid = as_int((user or "").split(":")[0])
        c.check(uid not in (None, 0), "Dockerfile runs as a non-root numeric USER", f"USER {user!r}")
        c.check(run_as_user == uid, f"pod runAsUser equals the image's USER ({uid})", f"runAsUser {run_as_user!r}")

    return finish(c)


def finish(c):
    if c.failures:
        print(f"check_manifests: {c.failures} of {c.count} checks FAILED")
        return 1
    print(f"check_manifests: all {c.count} checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
