"""A small kustomize renderer for the features deploy/k8s uses, for machines without kustomize.

kustomize itself (`kubectl kustomize`, `kustomize build`) is the reference: .ci/deploy-check
uses it when it is installed and then also checks that this renderer gives the same objects.
This one supports exactly:

- `resources` (YAML files and folders with a kustomization.yaml),
- `namespace` (set on namespaced objects),
- `images` (`name` -> `newName`/`newTag` on containers and initContainers),
- `configMapGenerator` / `secretGenerator` with `literals` or `envs`, `behavior` create or
  merge, `options.disableNameSuffixHash`; the name suffix is kustomize's content hash;
- the generated names written into the references kustomize updates for a Deployment
  (envFrom, env valueFrom, volumes);
- `patches` with `path` to a patch naming its target by kind and name, applied as a merge:
  maps merge, lists are replaced, null deletes. That is kustomize's behaviour for custom
  resources, and for built-in kinds as long as no list in the patch has a merge key; a patch
  with a list under a Deployment (containers, env, ...) is refused rather than rendered wrong.

Anything else in a kustomization.yaml is an error. Usage: kustomize_lite.py DIR (YAML to stdout)
"""

import base64
import copy
import hashlib
import json
import os
import sys

import yaml

KNOWN_FIELDS = {
    "apiVersion", "kind", "resources", "namespace", "images",
    "configMapGenerator", "secretGenerator", "patches",
}
CLUSTER_SCOPED = {
    "Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition",
    "PersistentVolume", "StorageClass", "PriorityClass", "IngressClass",
    "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration",
}
# Kinds whose patches would be strategic merges with list merge keys in real kustomize.
SMP_LIST_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "Pod", "Service", "ReplicaSet"}


class Unsupported(Exception):
    pass


def go_json(value) -> str:
    """json.Marshal as Go does it: sorted keys, no spaces, <, > and & escaped."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def name_hash(obj: dict) -> str:
    """kustomize's generator name suffix (api/hasher). Its encoder looks the name up with a
    path kustomize's Lookup does not resolve, so the name always hashes as ""."""
    if obj["kind"] == "ConfigMap":
        m = {"kind": "ConfigMap", "name": "", "data": obj.get("data", {})}
    else:
        m = {"kind": "Secret", "type": obj.get("type", "Opaque"), "name": "", "data": obj.get("data", {})}
    hexdigest = hashlib.sha256(go_json(m).encode("utf-8")).hexdigest()
    return hexdigest[:10].translate(str.maketrans("013ae", "ghkmt"))


def kustomize_base64(value: str) -> str:
    """Base64 as kustomize writes Secret data: from 70 characters on, in lines of 70, each
    ending in a newline (kyaml encodeBase64)."""
    encoded = base64.b64encode(value.encode("utf-8")).decode("ascii")
    if len(encoded) < 70:
        return encoded
    return "".join(encoded[i:i + 70] + "\n" for i in range(0, len(encoded), 70))


def parse_pairs(lines, where):
    pairs = {}
    for raw in lines:
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if "=" not in line:
            raise Unsupported(f"{where}: not KEY=VALUE: {raw!r}")
        key, value = line.split("=", 1)
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        pairs[key] = value
    return pairs


def generator_data(spec: dict, base_dir: str) -> dict:
    for field in spec:
        if field not in {"name", "literals", "envs", "behavior", "options"}:
            raise Unsupported(f"generator field {field}")
    data = {}
    data.update(parse_pairs(spec.get("literals", []), f"{spec['name']} literals"))
    for env in spec.get("envs", []):
        with open(os.path.join(base_dir, env), encoding="utf-8") as f:
            data.update(parse_pairs(f.read().splitlines(), env))
    options = spec.get("options", {})
    for field in options:
        if field != "disableNameSuffixHash":
            raise Unsupported(f"generator option {field}")
    return data


def merge(base, patch, kind, path=""):
    if isinstance(patch, dict):
        out = dict(base) if isinstance(base, dict) else {}
        for k, v in patch.items():
            if v is None:
                out.pop(k, None)
            else:
                out[k] = merge(out.get(k), v, kind, f"{path}.{k}")
        return out
    if isinstance(patch, list) and kind in SMP_LIST_KINDS:
        raise Unsupported(f"a list in a patch of a {kind} ({path}): kustomize would merge it by key")
    return copy.deepcopy(patch)


class Generated:
    def __init__(self, obj, hashed):
        self.obj, self.hashed = obj, hashed

    @property
    def final_name(self):
        name = self.obj["metadata"]["name"]
        return f"{name}-{name_hash(self.obj)}" if self.hashed else name


def build(directory: str):
    """Returns (plain objects, {(kind, name): Generated}) of the kustomization in directory."""
    with open(os.path.join(directory, "kustomization.yaml"), encoding="utf-8") as f:
        k = yaml.safe_load(f)
    for field in k:
        if field not in KNOWN_FIELDS:
            raise Unsupported(f"{directory}/kustomization.yaml: {field}")
    objects, generated = [], {}
    for res in k.get("resources", []):
        path = os.path.join(directory, res)
        if os.path.isdir(path):
            sub_objects, sub_generated = build(path)
            objects += sub_objects
            generated.update(sub_generated)
        else:
            with open(path, encoding="utf-8") as f:
                objects += [d for d in yaml.safe_load_all(f) if d]
    for kind, specs in (("ConfigMap", k.get("configMapGenerator", [])), ("Secret", k.get("secretGenerator", []))):
        for spec in specs:
            data = generator_data(spec, directory)
            if kind == "Secret":
                data = {key: kustomize_base64(v) for key, v in data.items()}
            behavior = spec.get("behavior", "create")
            key = (kind, spec["name"])
            hashed = not spec.get("options", {}).get("disableNameSuffixHash", False)
            if behavior == "merge":
                if key not in generated:
                    raise Unsupported(f"merge into {kind} {spec['name']}, which no base generates")
                generated[key].obj["data"].update(data)
            elif behavior == "create":
                obj = {"apiVersion": "v1", "kind": kind, "metadata": {"name": spec["name"]}, "data": data}
                if kind == "Secret":
                    obj["type"] = "Opaque"
                generated[key] = Generated(obj, hashed)
            else:
                raise Unsupported(f"generator behavior {behavior}")
    for patch_spec in k.get("patches", []):
        if set(patch_spec) != {"path"}:
            raise Unsupported(f"patch fields {sorted(patch_spec)} (only path)")
        with open(os.path.join(directory, patch_spec["path"]), encoding="utf-8") as f:
            patch = yaml.safe_load(f)
        target = [o for o in objects if o["kind"] == patch["kind"] and o["metadata"]["name"] == patch["metadata"]["name"]]
        if len(target) != 1:
            raise Unsupported(f"patch {patch_spec['path']}: {len(target)} targets")
        body = {f: v for f, v in patch.items() if f not in ("apiVersion", "kind")}
        body["metadata"] = {f: v for f, v in patch["metadata"].items() if f != "name"}
        if not body["metadata"]:
            del body["metadata"]
        objects[objects.index(target[0])] = merge(target[0], body, patch["kind"])
    for image in k.get("images", []):
        for o in objects:
            for c in containers(o):
                name = c["image"].split("@")[0].rsplit(":", 1)[0] if ":" in c["image"].split("/")[-1] else c["image"].split("@")[0]
                if name == image["name"]:
                    new_name = image.get("newName", name)
                    tag = image.get("newTag")
                    c["image"] = f"{new_name}:{tag}" if tag else new_name
    if "namespace" in k:
        for o in objects + [g.obj for g in generated.values()]:
            if o["kind"] not in CLUSTER_SCOPED:
                o["metadata"]["namespace"] = k["namespace"]
    return objects, generated


def containers(obj):
    spec = obj.get("spec", {}).get("template", {}).get("spec", {})
    return spec.get("containers", []) + spec.get("initContainers", [])


def rename_references(obj, names):
    """Points a workload's ConfigMap and Secret references at the generated names."""
    spec = obj.get("spec", {}).get("template", {}).get("spec")
    if not spec:
        return
    for c in containers(obj):
        for src in c.get("envFrom", []):
            for kind, field in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
                if field in src:
                    src[field]["name"] = names.get((kind, src[field]["name"]), src[field]["name"])
        for env in c.get("env", []):
            ref = env.get("valueFrom", {})
            for kind, field in (("ConfigMap", "configMapKeyRef"), ("Secret", "secretKeyRef")):
                if field in ref:
                    ref[field]["name"] = names.get((kind, ref[field]["name"]), ref[field]["name"])
    for v in spec.get("volumes", []):
        if "configMap" in v:
            v["configMap"]["name"] = names.get(("ConfigMap", v["configMap"]["name"]), v["configMap"]["name"])
        if "secret" in v:
            v["secret"]["secretName"] = names.get(("Secret", v["secret"]["secretName"]), v["secret"]["secretName"])


def render(directory: str) -> list:
    objects, generated = build(directory)
    names = {key: g.final_name for key, g in generated.items()}
    out = []
    for g in generated.values():
        obj = copy.deepcopy(g.obj)
        obj["metadata"]["name"] = g.final_name
        out.append(obj)
    for o in objects:
        rename_references(o, names)
        out.append(o)
    return out


def main() -> int:
    try:
        docs = render(sys.argv[1])
    except Unsupported as e:
        print(f"kustomize_lite: unsupported: {e}", file=sys.stderr)
        return 2
    yaml.safe_dump_all(docs, sys.stdout, sort_keys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
