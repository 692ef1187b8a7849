"""Checks deploy/keycloak/realm.json against Keycloak's own representation models.

The models come from the PyPI package keycloak-admin-client: pydantic v2 classes generated
(datamodel-codegen) from Keycloak's published admin REST API OpenAPI document, so
`RealmRepresentation` and everything under it (clients, users, roles, credentials) are
Keycloak's own field names and types. As shipped they ignore unknown fields and coerce
types; here every model is rebuilt with `extra="forbid"` and `strict=True`, so a misspelt
field or a wrong type fails. Then Roster's own requirements are asserted, and broken copies
are checked to fail.

Usage: check_realm.py REALM_JSON
"""

import copy
import importlib.metadata
import inspect
import json
import os
import sys

import pydantic
from pydantic import BaseModel, ValidationError

# keycloak-admin-client 26.2.4 marks 34 set-typed fields (`Set<String>` in Keycloak) with
# `Field(unique_items=True)`, a pydantic v1 keyword that pydantic v2 refuses at import. Keep
# the models as generated and drop only that keyword (it would not catch a misspelt field or
# a wrong type anyway; Keycloak itself collapses duplicates in a set).
_field = pydantic.Field


def _field_without_unique_items(*args, unique_items=None, **kwargs):
    return _field(*args, **kwargs)


pydantic.Field = _field_without_unique_items
from keycloak_admin_client import models  # noqa: E402  (after the shim above)

pydantic.Field = _field


def make_strict() -> None:
    classes = [
        c
        for _, c in inspect.getmembers(models, inspect.isclass)
        if issubclass(c, BaseModel) and c is not BaseModel and c.__module__ == models.__name__
    ]
    for cls in classes:
        cls.model_config["extra"] = "forbid"
        cls.model_config["strict"] = True
    # Nested models embed their children's schemas: rebuild until every class has the
    # strict config (two passes are enough for any order; a third changes nothing).
    for _ in range(3):
        for cls in classes:
            cls.model_rebuild(force=True)


def validate(realm: dict) -> None:
    """Raises ValidationError when `realm` is not a valid RealmRepresentation."""
    models.RealmRepresentation.model_validate_json(json.dumps(realm), strict=True)


def roster_requirements(realm: dict) -> list[str]:
    """What Roster needs from the realm, beyond being a valid representation."""
    problems = []

    def need(cond: bool, what: str) -> None:
        if not cond:
            problems.append(what)

    need(realm.get("realm") == "roster", "realm is named roster")
    need(realm.get("enabled") is True, "realm is enabled")
    need(realm.get("sslRequired") == "external", "sslRequired is external")
    need(realm.get("bruteForceProtected") is True, "brute-force protection is on")
    need(realm.get("registrationAllowed") is False, "self-registration is off")
    need(realm.get("accessTokenLifespan") == 300, "access tokens live 5 minutes (300 s)")
    roles = [r["name"] for r in realm.get("roles", {}).get("realm", [])]
    need("roster-admin" in roles, "realm role roster-admin exists")
    clients = [c for c in realm.get("clients", []) if c.get("clientId") == "roster"]
    need(len(clients) == 1, "exactly one client roster")
    if clients:
        c = clients[0]
        attrs = c.get("attributes", {})
        need(c.get("publicClient") is False, "client roster is confidential")
        need(c.get("secret") == "${ROSTER_OIDC_CLIENT_SECRET}", "client secret comes from ${ROSTER_OIDC_CLIENT_SECRET}")
        need(c.get("standardFlowEnabled") is True, "standard flow is on")
        for flow in ("implicitFlowEnabled", "directAccessGrantsEnabled", "serviceAccountsEnabled"):
            need(c.get(flow) is False, f"{flow} is off (standard flow only)")
        need(attrs.get("pkce.code.challenge.method") == "S256", "PKCE S256 is required")
        need(c.get("redirectUris") == ["https://${ROSTER_DOMAIN}/auth/callback"], "redirect URI is https://${ROSTER_DOMAIN}/auth/callback")
        need(attrs.get("post.logout.redirect.uris") == "https://${ROSTER_DOMAIN}/", "post-logout redirect URI is https://${ROSTER_DOMAIN}/")
        need(c.get("webOrigins") == ["https://${ROSTER_DOMAIN}"], "web origin is https://${ROSTER_DOMAIN}")
        for scope in ("roles", "profile", "email", "basic"):
            need(scope in c.get("defaultClientScopes", []), f"client scope {scope} is a default scope")
        need(c.get("fullScopeAllowed", True) is True, "full scope allowed (realm roles reach the token)")
    need("clientScopes" not in realm, "no clientScopes section (Keycloak then creates its defaults: roles, profile, email, basic, ...)")
    users = realm.get("users", [])
    admins = [u for u in users if "roster-admin" in u.get("realmRoles", [])]
    need(len(admins) == 1, "one first admin user with roster-admin")
    if admins:
        u = admins[0]
        need(u.get("email") == "${ROSTER_FIRST_ADMIN_EMAIL}", "first admin email from ${ROSTER_FIRST_ADMIN_EMAIL}")
        need(u.get("emailVerified") is True, "first admin email is verified")
        creds = u.get("credentials", [])
        need(
            any(cr.get("value") == "${ROSTER_FIRST_ADMIN_PASSWORD}" and cr.get("temporary") is True for cr in creds),
            "first admin password from ${ROSTER_FIRST_ADMIN_PASSWORD}, temporary",
        )
    return problems


def broken_copies(realm: dict):
    """Copies that Keycloak's model must refuse: (description, realm)."""
    r = copy.deepcopy(realm)
    r["bruteForceProtect"] = r.pop("bruteForceProtected")
    yield "misspelt top-level field bruteForceProtect", r
    r = copy.deepcopy(realm)
    r["clients"][0]["redirectUri"] = r["clients"][0].pop("redirectUris")
    yield "misspelt client field redirectUri", r
    r = copy.deepcopy(realm)
    r["users"][0]["credentials"][0]["temporay"] = True
    yield "misspelt credential field temporay", r
    r = copy.deepcopy(realm)
    r["accessTokenLifespan"] = "300"
    yield "accessTokenLifespan as a string", r
    r = copy.deepcopy(realm)
    r["clients"][0]["standardFlowEnabled"] = "yes"
    yield "client standardFlowEnabled as a string", r
    r = copy.deepcopy(realm)
    r["clients"][0]["redirectUris"] = "https://${ROSTER_DOMAIN}/auth/callback"
    yield "client redirectUris as a string, not a list", r
    r = copy.deepcopy(realm)
    r["roles"]["realm"][0]["composite"] = 0
    yield "role composite as a number", r


def main() -> int:
    path = sys.argv[1]
    with open(path, encoding="utf-8") as f:
        realm = json.load(f)
    path = os.path.relpath(path)
    make_strict()
    version = importlib.metadata.version("keycloak-admin-client")
    try:
        validate(realm)
    except ValidationError as e:
        print(f"FAIL {path}: not a valid Keycloak RealmRepresentation:\n{e}")
        return 1
    print(f"ok   {path}: a valid RealmRepresentation (keycloak-admin-client {version}, unknown fields and wrong types refused)")
    problems = roster_requirements(realm)
    for p in problems:
        print(f"FAIL {path}: not met: {p}")
    if problems:
        return 1
    print(f"ok   {path}: Roster's requirements (confidential client, PKCE S256, redirect URIs, roster-admin in realm_access, 5 min tokens, brute-force protection, first admin)")
    failed = 0
    for what, broken in broken_copies(realm):
        try:
            validate(broken)
        except ValidationError as e:
            first = e.errors()[0]
            print(f"ok   broken copy refused ({what}): {'.'.join(map(str, first['loc']))}: {first['msg']}")
        else:
            print(f"FAIL broken copy accepted ({what}): the realm check is not strict")
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
