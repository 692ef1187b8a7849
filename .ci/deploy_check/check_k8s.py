"""Renders and checks deploy/k8s (base and overlays/example).

1. Renders each with kustomize (`kubectl kustomize`) when it is installed, and always with
   kustomize_lite.py; when both ran, their objects must be equal.
2. Validates every built-in object strictly (unknown fields refused) with kubernetes-validate
   against the Kubernetes versions given; CloudNativePG objects are left to check_cnpg.mjs.
3. Asserts what Roster needs (probes, rolling update, security context, grace period, ...).
4. Checks that broken copies fail (an unknown field, a wrong type).
Writes the rendered YAML and broken CloudNativePG copies into OUT for check_cnpg.mjs.

Usage: check_k8s.py REPO_ROOT OUT KUBE_VERSION...
"""

import copy
import os
import shutil
import subprocess
import sys

import kubernetes_validate
import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kustomize_lite  # noqa: E402
from roster_env import SECRET_VARIABLES, known_variables  # noqa: E402

CNPG_API = "postgresql.cnpg.io/v1"
failures = 0


def ok(msg):
    print(f"ok   {msg}")


def fail(msg):
    global failures
    failures += 1
    print(f"FAIL {msg}")


def key(o):
    return (o["kind"], o["metadata"]["name"])


def kubectl_kustomize():
    """The kustomize command here, or None."""
    kubectl = shutil.which("kubectl")
    if kubectl:
        r = subprocess.run([kubectl, "kustomize", "--help"], capture_output=True, text=True)
        if r.returncode == 0:
            return [kubectl, "kustomize"]
    if shutil.which("kustomize"):
        return ["kustomize", "build"]
    return None


def render(directory, tool, label):
    lite = kustomize_lite.render(directory)
    if not tool:
        ok(f"{label}: rendered with kustomize_lite ({len(lite)} objects; no kustomize on this machine)")
        return lite
    r = subprocess.run(tool + [directory], capture_output=True, text=True)
    if r.returncode != 0:
        fail(f"{label}: {' '.join(tool)} failed: {r.stderr.strip()}")
        return lite
    real = [d for d in yaml.safe_load_all(r.stdout) if d]
    a = {key(o): o for o in real}
    b = {key(o): o for o in lite}
    if a == b:
        ok(f"{label}: rendered with {' '.join(tool)} ({len(real)} objects); kustomize_lite gives the same objects")
    else:
        diff = sorted(set(a) ^ set(b)) or [k for k in a if a[k] != b.get(k)]
        fail(f"{label}: kustomize_lite differs from {' '.join(tool)} on {diff}")
    return real


def validate_builtin(objs, label, versions):
    """Strict schema validation of every non-CloudNativePG object."""
    bad = 0
    for version in versions:
        for o in objs:
            if o["apiVersion"] == CNPG_API:
                continue
            try:
                kubernetes_validate.validate(o, version, strict=True)
            except kubernetes_validate.ValidationError as e:
                path = ".".join(str(p) for p in e.path)
                fail(f"{label}: {o['kind']}/{o['metadata']['name']} against Kubernetes {version}: {path}: {e.message}")
                bad += 1
            except kubernetes_validate.SchemaNotFoundError as e:
                fail(f"{label}: {e.message}")
                bad += 1
    return bad


def one(objs, kind, name=None):
    found = [o for o in objs if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    return found[0] if len(found) == 1 else None


def roster_requirements(objs, label, overlay, known):
    problems = []

    def need(cond, what):
        if not cond:
            problems.append(what)

    dep = one(objs, "Deployment", "roster")
    cms = [o for o in objs if o["kind"] == "ConfigMap" and o["metadata"]["name"].startswith("roster-config")]
    need(dep is not None, "a Deployment roster")
    need(len(cms) == 1, "one ConfigMap roster-config")
    if not dep or len(cms) != 1:
        return problems
    config = cms[0]["data"]
    spec = dep["spec"]
    pod = spec["template"]["spec"]
    c = pod["containers"][0]
    need(spec.get("replicas", 1) >= 2, "at least 2 replicas")
    ru = spec.get("strategy", {}).get("rollingUpdate", {})
    need(spec.get("strategy", {}).get("type") == "RollingUpdate" and ru.get("maxUnavailable") == 0 and ru.get("maxSurge") == 1,
         "rolling update with maxUnavailable 0, maxSurge 1")
    need(c.get("startupProbe", {}).get("httpGet", {}).get("path") == "/readyz", "startupProbe on /readyz")
    need(c.get("readinessProbe", {}).get("httpGet", {}).get("path") == "/readyz", "readinessProbe on /readyz")
    need(c.get("livenessProbe", {}).get("httpGet", {}).get("path") == "/healthz", "livenessProbe on /healthz")
    ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
    need(ports == {"http": 8080, "metrics": 9100}, "container ports http 8080 and metrics 9100")
    res = c.get("resources", {})
    need({"cpu", "memory"} <= set(res.get("requests", {})) and {"cpu", "memory"} <= set(res.get("limits", {})),
         "cpu and memory requests and limits")
    sc = c.get("securityContext", {})
    psc = pod.get("securityContext", {})
    need(psc.get("runAsNonRoot") is True and psc.get("runAsUser") == 10001, "pod runs as non-root uid 10001")
    need(sc.get("readOnlyRootFilesystem") is True, "read-only root filesystem")
    need(sc.get("allowPrivilegeEscalation") is False, "no privilege escalation")
    need(sc.get("capabilities", {}).get("drop") == ["ALL"], "all capabilities dropped")
    need((sc.get("seccompProfile") or psc.get("seccompProfile", {})).get("type") == "RuntimeDefault", "seccomp RuntimeDefault")
    mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
    vols = {v["name"]: v for v in pod.get("volumes", [])}
    need("/tmp" in mounts and "emptyDir" in vols.get(mounts.get("/tmp"), {}), "an emptyDir at /tmp")
    delay = int(config.get("ROSTER_SHUTDOWN_DELAY_SECS", "0"))
    need(delay == 5, "ROSTER_SHUTDOWN_DELAY_SECS=5")
    need(pod.get("terminationGracePeriodSeconds", 30) > delay + 25,
         f"terminationGracePeriodSeconds above ROSTER_SHUTDOWN_DELAY_SECS + 25 = {delay + 25}")
    need(config.get("LEPTOS_SITE_ADDR") == "0.0.0.0:8080", "LEPTOS_SITE_ADDR=0.0.0.0:8080")
    need(config.get("ROSTER_METRICS_ADDR") == "0.0.0.0:9100", "ROSTER_METRICS_ADDR=0.0.0.0:9100")
    need(config.get("LEPTOS_ENV") == "PROD", "LEPTOS_ENV=PROD")
    need(config.get("ROSTER_TRUST_FORWARDED_FOR") == "true", "ROSTER_TRUST_FORWARDED_FOR=true behind the ingress")
    for secret_name in sorted(SECRET_VARIABLES):
        need(secret_name not in config, f"{secret_name} is not in the ConfigMap")
    for name in sorted(config):
        need(name in known, f"ConfigMap key {name} is a variable Roster reads (README.md, Configuration)")
    secrets = [o for o in objs if o["kind"] == "Secret" and o["metadata"]["name"].startswith("roster-secrets")]
    for name in sorted(k for o in secrets for k in o.get("data", {})):
        need(name in known, f"Secret roster-secrets key {name} is a variable Roster reads")
    env = {e["name"]: e for e in c.get("env", [])}
    ref = env.get("DATABASE_URL", {}).get("valueFrom", {}).get("secretKeyRef", {})
    need(ref.get("name") == "roster-db-app" and ref.get("key") == "uri", "DATABASE_URL from the CloudNativePG secret roster-db-app, key uri")
    env_from = c.get("envFrom", [])
    need(any("configMapRef" in e for e in env_from) and any("secretRef" in e for e in env_from), "env from a ConfigMap and a Secret")
    need(bool(pod.get("topologySpreadConstraints")) or "podAntiAffinity" in pod.get("affinity", {}), "pods spread across nodes")

    svc = one(objs, "Service", "roster")
    sports = {p["name"]: (p["port"], p["targetPort"]) for p in (svc or {}).get("spec", {}).get("ports", [])}
    need(sports.get("http") == (80, "http") and sports.get("metrics", (None,))[0] == 9100, "Service http 80 -> 8080 and metrics 9100")
    ing = one(objs, "Ingress", "roster")
    need(ing is not None and bool(ing["spec"].get("tls")), "an Ingress with TLS")
    if ing:
        backends = [p["backend"]["service"]["port"] for r in ing["spec"]["rules"] for p in r["http"]["paths"]]
        need(all(b.get("name") == "http" or b.get("number") == 80 for b in backends), "the Ingress routes to the http port only")
        tls_hosts = {h for t in ing["spec"].get("tls", []) for h in t.get("hosts", [])}
        need({r["host"] for r in ing["spec"]["rules"]} <= tls_hosts, "every Ingress host is in its TLS hosts")
    hpa = one(objs, "HorizontalPodAutoscaler", "roster")
    need(hpa is not None and hpa["spec"]["minReplicas"] >= 2 and hpa["spec"]["maxReplicas"] == 10, "an autoscaler from 2 to 10")
    if hpa:
        cpu = [m["resource"]["target"].get("averageUtilization") for m in hpa["spec"].get("metrics", []) if m.get("resource", {}).get("name") == "cpu"]
        need(cpu and 50 <= cpu[0] <= 80, "autoscaling on CPU around 70%")
    pdb = one(objs, "PodDisruptionBudget", "roster")
    need(pdb is not None and pdb["spec"].get("minAvailable") == 1, "a PodDisruptionBudget with minAvailable 1")
    np_ = one(objs, "NetworkPolicy", "roster")
    if np_ is None:
        need(False, "a NetworkPolicy")
    else:
        in_ports = sorted(p["port"] for r in np_["spec"].get("ingress", []) for p in r.get("ports", []))
        need(in_ports == [8080, 9100], "ingress allowed on 8080 and 9100 only")
        out_ports = {p["port"] for r in np_["spec"].get("egress", []) for p in r.get("ports", [])}
        need({5432, 53, 443} <= out_ports, "egress to the database (5432), DNS (53) and https (443)")
        need(set(np_["spec"].get("policyTypes", [])) == {"Ingress", "Egress"}, "the NetworkPolicy governs ingress and egress")
    cluster = one(objs, "Cluster", "roster-db")
    need(cluster is not None, "a CloudNativePG Cluster roster-db")
    if cluster:
        cs = cluster["spec"]
        need(cs.get("instances") == 3, "3 database instances")
        need(cs.get("bootstrap", {}).get("initdb", {}).get("owner") == "roster", "the app owner is roster (secret roster-db-app)")
        bos = cs.get("backup", {}).get("barmanObjectStore", {})
        need(bool(bos.get("destinationPath")) and "wal" in bos and bool(cs["backup"].get("retentionPolicy")),
             "WAL archiving to object storage with a retention policy")
        max_conn = int(cs.get("postgresql", {}).get("parameters", {}).get("max_connections", "100"))
        per_pod = int(config.get("ROSTER_DB_MAX_CONNECTIONS", "20"))
        most = hpa["spec"]["maxReplicas"] if hpa else spec.get("replicas", 1)
        # A rolling update adds maxSurge pods; CloudNativePG keeps 3 superuser slots and its own.
        need(per_pod * (most + 1) <= max_conn - 10,
             f"(maxReplicas + 1) x ROSTER_DB_MAX_CONNECTIONS = {per_pod * (most + 1)} fits PostgreSQL max_connections {max_conn} - 10")
    sb = one(objs, "ScheduledBackup")
    need(sb is not None and sb["spec"]["cluster"]["name"] == "roster-db", "a ScheduledBackup of roster-db")
    if overlay:
        ns = one(objs, "Namespace")
        need(ns is not None, "the overlay makes its Namespace")
        if ns:
            name = ns["metadata"]["name"]
            need(all(o["metadata"].get("namespace") == name for o in objs if o["kind"] != "Namespace"),
                 f"every object is in namespace {name}")
        need(c["image"] != "roster" and ":" in c["image"], "the overlay sets a full image name with a tag")
    for p in problems:
        fail(f"{label}: not met: {p}")
    if not problems:
        ok(f"{label}: Roster's requirements (probes, rolling update, security context, grace period > delay + 25 s, "
           "config vs secrets, autoscaler, disruption budget, network policy, database, backups)")


def broken_copies(objs):
    dep = next(o for o in objs if o["kind"] == "Deployment")
    b = copy.deepcopy(dep)
    b["spec"]["template"]["spec"]["containers"][0]["readinessProbes"] = b["spec"]["template"]["spec"]["containers"][0].pop("readinessProbe")
    yield "an unknown container field readinessProbes", b
    b = copy.deepcopy(dep)
    b["spec"]["strategy"]["rollingUpdate"]["maxUnavailabe"] = 0
    yield "a misspelt maxUnavailabe", b
    b = copy.deepcopy(dep)
    b["spec"]["replicas"] = "2"
    yield "replicas as a string", b
    hpa = next(o for o in objs if o["kind"] == "HorizontalPodAutoscaler")
    b = copy.deepcopy(hpa)
    b["spec"]["metrics"][0]["resource"]["target"]["averageUtilisation"] = 70
    yield "an HPA with averageUtilisation", b


def cnpg_broken_copies(objs):
    cluster = next(o for o in objs if o["kind"] == "Cluster")
    b = copy.deepcopy(cluster)
    b["spec"]["backup"]["barmanObjectStore"]["wal"]["compresion"] = "gzip"
    yield "cluster-misspelt-field", [b]
    b = copy.deepcopy(cluster)
    b["spec"]["instances"] = "3"
    yield "cluster-wrong-type", [b]
    b = copy.deepcopy(cluster)
    b["spec"]["backup"]["barmanObjectStore"]["wal"]["compression"] = "zip"
    yield "cluster-bad-enum", [b]
    sb = next(o for o in objs if o["kind"] == "ScheduledBackup")
    b = copy.deepcopy(sb)
    b["spec"]["clusterName"] = b["spec"].pop("cluster")["name"]
    yield "scheduledbackup-unknown-field", [b]


def docs_snippets(root, out, versions):
    """Kubernetes YAML shown in the operating docs: built-in kinds validated here, the
    CloudNativePG ones written to OUT/docs.yaml for check_cnpg.mjs."""
    import re
    cnpg = []
    for doc in ("deploy/OPERATIONS.md", "README.md"):
        path = os.path.join(root, doc)
        if not os.path.exists(path):
            continue
        with open(path, encoding="utf-8") as f:
            text = f.read()
        for block in re.findall(r"```yaml\n(.*?)```", text, re.S):
            for obj in yaml.safe_load_all(block):
                if not isinstance(obj, dict) or "apiVersion" not in obj or "kind" not in obj:
                    continue
                if obj["apiVersion"] == CNPG_API:
                    cnpg.append(obj)
                elif validate_builtin([obj], doc, versions) == 0:
                    ok(f"{doc}: the example {obj['kind']}/{obj['metadata']['name']} is valid (--strict)")
    if cnpg:
        with open(os.path.join(out, "docs.yaml"), "w", encoding="utf-8") as f:
            yaml.safe_dump_all(cnpg, f, sort_keys=False)


def main():
    root, out, versions = sys.argv[1], sys.argv[2], sys.argv[3:]
    os.makedirs(out, exist_ok=True)
    tool = kubectl_kustomize()
    targets = [("base", os.path.join(root, "deploy/k8s/base"), False),
               ("overlay", os.path.join(root, "deploy/k8s/overlays/example"), True)]
    rendered = {}
    for name, directory, overlay in targets:
        label = os.path.relpath(directory, root)
        try:
            objs = render(directory, tool, label)
        except kustomize_lite.Unsupported as e:
            fail(f"{label}: kustomize_lite cannot render it: {e}")
            continue
        rendered[name] = objs
        with open(os.path.join(out, f"{name}.yaml"), "w", encoding="utf-8") as f:
            yaml.safe_dump_all(objs, f, sort_keys=False)
        count = sum(1 for o in objs if o["apiVersion"] != CNPG_API)
        if validate_builtin(objs, label, versions) == 0:
            ok(f"{label}: {count} Kubernetes objects valid against Kubernetes {', '.join(versions)} schemas "
               f"(kubernetes-validate {kubernetes_validate.__version__}, --strict)")
        roster_requirements(objs, label, overlay, known_variables(root))
    docs_snippets(root, out, versions)
    if "overlay" in rendered:
        objs = rendered["overlay"]
        for what, broken in broken_copies(objs):
            try:
                kubernetes_validate.validate(broken, versions[-1], strict=True)
            except kubernetes_validate.ValidationError as e:
                ok(f"broken copy refused ({what}): {'.'.join(str(p) for p in e.path)}: {e.message[:120]}")
            else:
                fail(f"broken copy accepted ({what}): the Kubernetes check is not strict")
        for name, docs in cnpg_broken_copies(objs):
            with open(os.path.join(out, f"broken-{name}.yaml"), "w", encoding="utf-8") as f:
                yaml.safe_dump_all(docs, f, sort_keys=False)
        # kustomize_lite must refuse what it cannot render faithfully.
        try:
            kustomize_lite.merge({"spec": {"template": {}}}, {"spec": {"template": {"spec": {"containers": [{"name": "x"}]}}}}, "Deployment")
        except kustomize_lite.Unsupported:
            ok("kustomize_lite refuses a Deployment patch with a list (it would need kustomize's merge keys)")
        else:
            fail("kustomize_lite accepted a Deployment patch with a list")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
