"""Checks deploy/compose.yaml and deploy/.env.example.

1. compose.yaml is valid against the Compose Specification's JSON schema (compose-spec.json
   as vendored, with its license, by the PyPI package check-jsonschema), as written and again
   after interpolating the values of .env.example (compose validates the interpolated model).
2. Every ${VAR} compose.yaml uses is listed in .env.example, and every variable listed there
   is used.
3. What Roster needs (read-only, uid 10001, /tmp tmpfs, its health check, nothing but Caddy
   published, metrics not on the host, ...), every Roster variable is one Roster reads, and
   every ${NAME} in keycloak/realm.json reaches Keycloak's environment.
4. Broken copies fail.

Usage: check_compose.py REPO_ROOT
"""

import copy
import importlib.metadata
import importlib.resources
import json
import os
import re
import sys

import jsonschema
import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from roster_env import SECRET_VARIABLES, known_variables  # noqa: E402

# Compose interpolation: $$, $VAR, ${VAR}, ${VAR:-x}, ${VAR-x}, ${VAR:?x}, ${VAR?x}, ${VAR:+x}, ${VAR+x}.
TOKEN = re.compile(r"\$(?:(\$)|([A-Za-z_][A-Za-z0-9_]*)|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])((?:[^{}]|\{[^{}]*\})*))?\})")


class Missing(Exception):
    pass


def interpolate(text, env):
    def sub(m):
        if m.group(1):
            return "$"
        name = m.group(2) or m.group(3)
        op, arg = m.group(4), m.group(5) or ""
        value = env.get(name)
        unset_or_empty = value is None or (op and op.startswith(":") and value == "")
        if op in (":-", "-"):
            return interpolate(arg, env) if unset_or_empty else value
        if op in (":?", "?"):
            if unset_or_empty:
                raise Missing(f"{name}: {arg}")
            return value
        if op in (":+", "+"):
            return interpolate(arg, env) if not unset_or_empty else ""
        return value or ""
    return TOKEN.sub(sub, text)


def variables(text):
    """(names used, names required with ? or :?)."""
    used, required = set(), set()
    for m in TOKEN.finditer(text):
        name = m.group(2) or m.group(3)
        if name:
            used.add(name)
            if m.group(4) in (":?", "?"):
                required.add(name)
            if m.group(5):
                u, r = variables(m.group(5))
                used |= u
                required |= r
    return used, required


def walk_strings(node, fn):
    if isinstance(node, dict):
        return {k: walk_strings(v, fn) for k, v in node.items()}
    if isinstance(node, list):
        return [walk_strings(v, fn) for v in node]
    if isinstance(node, str):
        return fn(node)
    return node


def env_example(path):
    values = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                key, _, value = line.partition("=")
                values[key.strip()] = value.strip()
    return values


def schema():
    path = importlib.resources.files("check_jsonschema") / "builtin_schemas" / "vendor" / "compose-spec.json"
    with path.open(encoding="utf-8") as f:
        return json.load(f)


def schema_errors(validator, doc):
    """The errors, the most telling first (jsonschema's own relevance order)."""
    return sorted(validator.iter_errors(doc), key=jsonschema.exceptions.relevance)


def environment(service):
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    return env


def roster_requirements(raw, model, root):
    problems = []

    def need(cond, what):
        if not cond:
            problems.append(what)

    services = model.get("services", {})
    for name in ("postgres", "keycloak", "roster", "caddy"):
        need(name in services, f"a service {name}")
    if problems:
        return problems
    r, raw_r = services["roster"], raw["services"]["roster"]
    env = environment(r)
    need(raw_r.get("image") == "${ROSTER_IMAGE:-localhost/roster:latest}", "roster image is ${ROSTER_IMAGE:-localhost/roster:latest}")
    need(r.get("read_only") is True, "roster: read_only: true")
    need(str(r.get("user", "")).split(":")[0] == "10001", "roster runs as user 10001")
    tmpfs = r.get("tmpfs", [])
    tmpfs = [tmpfs] if isinstance(tmpfs, str) else tmpfs
    need(any(t.split(":")[0] == "/tmp" for t in tmpfs), "roster: a tmpfs at /tmp")
    need(r.get("healthcheck", {}).get("test") == ["CMD", "/app/roster", "healthcheck"], "roster health check is [CMD, /app/roster, healthcheck]")
    need(r.get("depends_on", {}).get("postgres", {}).get("condition") == "service_healthy", "roster waits for a healthy postgres")
    need("ports" not in r, "roster publishes no port (Caddy is the way in; metrics stay inside)")
    need(env.get("ROSTER_TRUST_FORWARDED_FOR") == "true", "ROSTER_TRUST_FORWARDED_FOR=true behind Caddy")
    need(env.get("LEPTOS_SITE_ADDR") == "0.0.0.0:8080", "LEPTOS_SITE_ADDR=0.0.0.0:8080")
    need(env.get("LEPTOS_ENV") == "PROD", "LEPTOS_ENV=PROD")
    need(str(env.get("ROSTER_METRICS_ADDR", "")).endswith(":9100"), "ROSTER_METRICS_ADDR on port 9100")
    known = known_variables(root)
    for key in env:
        need(key in known, f"roster's variable {key} is one Roster reads (README.md, Configuration)")
    for key in ("DATABASE_URL", "ROSTER_PUBLIC_URL", "ROSTER_SMTP_URL", "ROSTER_OIDC_ISSUER", "ROSTER_OIDC_CLIENT_SECRET"):
        need(bool(env.get(key)), f"roster gets {key}")
    for key in SECRET_VARIABLES:
        value = raw_r.get("environment", {}).get(key, "")
        need(not value or "${" in value, f"{key} comes from deploy/.env, not compose.yaml")
    grace = r.get("stop_grace_period", "10s")
    seconds = int(re.fullmatch(r"(\d+)s", grace).group(1)) if re.fullmatch(r"(\d+)s", grace) else 0
    need(seconds > int(env.get("ROSTER_SHUTDOWN_DELAY_SECS", "0")) + 25, "stop_grace_period above ROSTER_SHUTDOWN_DELAY_SECS + 25 s")

    pg = services["postgres"]
    need(pg.get("image") == "postgres:17", "postgres image postgres:17")
    need(any(isinstance(v, str) and v.split(":")[0] == "postgres-data" for v in pg.get("volumes", [])), "postgres data in the named volume postgres-data")
    need("pg_isready" in " ".join(pg.get("healthcheck", {}).get("test", [])), "postgres health check with pg_isready")
    need("ports" not in pg, "postgres publishes no port")

    kc = services["keycloak"]
    kenv = environment(kc)
    need(re.fullmatch(r"quay\.io/keycloak/keycloak:26(\.\d+)*", kc.get("image", "")) is not None, "keycloak image quay.io/keycloak/keycloak:26.x")
    need("start" in kc.get("command", []) and "--import-realm" in kc.get("command", []), "keycloak runs start --import-realm")
    need(any(v.startswith("./keycloak/realm.json:/opt/keycloak/data/import/") for v in kc.get("volumes", []) if isinstance(v, str)),
         "keycloak/realm.json mounted into /opt/keycloak/data/import/")
    need(kenv.get("KC_PROXY_HEADERS") == "xforwarded", "KC_PROXY_HEADERS=xforwarded")
    need(kenv.get("KC_HTTP_ENABLED") == "true" and kenv.get("KC_HEALTH_ENABLED") == "true", "Keycloak http and health enabled")
    need("ports" not in kc, "keycloak publishes no port")
    with open(os.path.join(root, "deploy/keycloak/realm.json"), encoding="utf-8") as f:
        realm_text = f.read()
    realm = json.loads(realm_text)
    for placeholder in sorted(set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", realm_text))):
        need(placeholder in kenv, f"realm.json's ${{{placeholder}}} is in keycloak's environment")
    need(env.get("ROSTER_OIDC_ISSUER") == f"{kenv.get('KC_HOSTNAME')}/realms/{realm['realm']}", "ROSTER_OIDC_ISSUER is Keycloak's hostname + /realms/ + the realm")
    client = next((c for c in realm.get("clients", []) if c.get("clientId") == env.get("ROSTER_OIDC_CLIENT_ID")), None)
    need(client is not None, "ROSTER_OIDC_CLIENT_ID names a client of the realm")
    raw_env = raw_r.get("environment", {})
    need(raw_env.get("ROSTER_PUBLIC_URL", "").startswith("https://${ROSTER_DOMAIN"), "ROSTER_PUBLIC_URL is https://${ROSTER_DOMAIN}, as the realm's redirect URI")
    need(raw["services"]["keycloak"]["environment"].get("ROSTER_OIDC_CLIENT_SECRET") == raw_env.get("ROSTER_OIDC_CLIENT_SECRET"),
         "Roster and Keycloak get the same ROSTER_OIDC_CLIENT_SECRET")

    published = [n for n, s in services.items() if s.get("ports")]
    need(published == ["caddy"], f"only caddy publishes ports (found: {published})")
    caddy = services["caddy"]
    need(sorted(str(p) for p in caddy.get("ports", [])) == ["443:443", "443:443/udp", "80:80"], "caddy publishes 80 and 443 (tcp, udp)")
    need(any(v.startswith("./Caddyfile:/etc/caddy/Caddyfile") for v in caddy.get("volumes", []) if isinstance(v, str)), "the Caddyfile is mounted")
    need(any(isinstance(v, str) and v.startswith("caddy-data:/data") for v in caddy.get("volumes", [])), "caddy keeps its certificates in a volume")
    for n, s in services.items():
        need(s.get("restart") in ("unless-stopped", "always"), f"{n} restarts after a reboot")
    return problems


def check(text, env_values, validator, root, label, quiet=False):
    """Problems of one compose file text."""
    problems = []
    raw = yaml.safe_load(text)
    for e in schema_errors(validator, raw)[:5]:
        problems.append(f"schema (as written): {'/'.join(map(str, e.absolute_path))}: {e.message[:200]}")
    used, required = set(), set()

    def collect(value):
        u, r = variables(value)
        used.update(u)
        required.update(r)
        return value

    walk_strings(raw, collect)
    listed = set(env_values)
    for name in sorted(used - listed):
        problems.append(f"${{{name}}} is used but not listed in .env.example")
    for name in sorted(listed - used):
        problems.append(f"{name} is listed in .env.example but compose.yaml does not use it")
    # Interpolate with .env.example, empty secrets given a stand-in (the real .env has them).
    env = {k: (v or f"example-{k.lower()}") for k, v in env_values.items()}
    try:
        model = walk_strings(raw, lambda s: interpolate(s, env))
    except Missing as e:
        problems.append(f"interpolation: {e}")
        return problems, None
    for e in schema_errors(validator, model)[:5]:
        problems.append(f"schema (interpolated): {'/'.join(map(str, e.absolute_path))}: {e.message[:200]}")
    if not problems:
        problems += [f"not met: {p}" for p in roster_requirements(raw, model, root)]
    return problems, (used, required)


def main():
    root = sys.argv[1]
    path = os.path.join(root, "deploy/compose.yaml")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    env_values = env_example(os.path.join(root, "deploy/.env.example"))
    spec = schema()
    cls = jsonschema.validators.validator_for(spec)
    cls.check_schema(spec)
    validator = cls(spec, format_checker=cls.FORMAT_CHECKER)
    version = importlib.metadata.version("check-jsonschema")
    problems, result = check(text, env_values, validator, root, "compose.yaml")
    for p in problems:
        print(f"FAIL deploy/compose.yaml: {p}")
    if problems:
        return 1
    used, required = result
    print(f"ok   deploy/compose.yaml: valid against the Compose Specification schema (compose-spec.json from check-jsonschema {version}), as written and interpolated")
    print(f"ok   deploy/.env.example: lists all {len(used)} variables compose.yaml uses ({len(required)} required), and no other")
    print("ok   deploy/compose.yaml: Roster's requirements (read-only, uid 10001, /tmp tmpfs, healthcheck, only Caddy published, "
          "metrics inside, realm placeholders reach Keycloak, issuer and client match the realm)")

    raw = yaml.safe_load(text)
    broken = []
    b = copy.deepcopy(raw)
    b["services"]["roster"]["healtcheck"] = b["services"]["roster"].pop("healthcheck")
    broken.append(("a misspelt healtcheck", yaml.safe_dump(b)))
    b = copy.deepcopy(raw)
    b["services"]["roster"]["read_only"] = ["yes"]
    broken.append(("read_only as a list", yaml.safe_dump(b)))
    b = copy.deepcopy(raw)
    b["services"]["roster"]["depends_on"]["postgres"]["condition"] = "healthy"
    broken.append(("depends_on condition healthy (not service_healthy)", yaml.safe_dump(b)))
    b = copy.deepcopy(raw)
    b["services"]["roster"]["environment"]["ROSTER_MAIL_FROM"] = "${ROSTER_MAIL_SENDER:?set it}"
    broken.append(("a variable missing from .env.example", yaml.safe_dump(b)))
    b = copy.deepcopy(raw)
    b["services"]["roster"]["environment"]["ROSTER_SMTP_ULR"] = b["services"]["roster"]["environment"].pop("ROSTER_SMTP_URL")
    broken.append(("a Roster variable Roster does not read (ROSTER_SMTP_ULR)", yaml.safe_dump(b)))
    b = copy.deepcopy(raw)
    b["services"]["roster"]["ports"] = ["9100:9100"]
    broken.append(("metrics published on the host", yaml.safe_dump(b)))
    failed = 0
    for what, broken_text in broken:
        problems, _ = check(broken_text, env_values, validator, root, what)
        if problems:
            print(f"ok   broken copy refused ({what}): {problems[0][:160]}")
        else:
            print(f"FAIL broken copy accepted ({what})")
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
