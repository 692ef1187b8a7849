"""The environment variables Roster reads: README.md's Configuration table, plus the ones the
deployment relies on that the table may not list yet. A deployment file that sets any other
ROSTER_/LEPTOS_ variable for Roster has a typo."""

import os
import re

# Read at start (the deployment brief); kept here so a README edit cannot drop one silently.
DEPLOYMENT_VARIABLES = {
    "DATABASE_URL", "ROSTER_PUBLIC_URL", "ROSTER_DB_MAX_CONNECTIONS", "LEPTOS_SITE_ADDR",
    "LEPTOS_ENV", "ROSTER_OIDC_ISSUER", "ROSTER_OIDC_CLIENT_ID", "ROSTER_OIDC_CLIENT_SECRET",
    "ROSTER_OIDC_API_CLIENTS", "ROSTER_EMAIL_LOGIN", "ROSTER_ADMIN_EMAILS", "ROSTER_SMTP_URL",
    "ROSTER_MAIL_FROM", "ROSTER_JOB_CONCURRENCY", "ROSTER_VAPID_PRIVATE_KEY",
    "ROSTER_TRUST_FORWARDED_FOR", "ROSTER_METRICS_ADDR", "ROSTER_SHUTDOWN_DELAY_SECS",
    "ROSTER_LOG_FORMAT", "RUST_LOG",
}
# Hold a password or key: never in a ConfigMap or in compose.yaml itself.
SECRET_VARIABLES = {"ROSTER_OIDC_CLIENT_SECRET", "ROSTER_SMTP_URL", "ROSTER_VAPID_PRIVATE_KEY", "DATABASE_URL"}


def known_variables(root):
    names = set(DEPLOYMENT_VARIABLES)
    with open(os.path.join(root, "README.md"), encoding="utf-8") as f:
        for line in f:
            m = re.match(r"\|\s*`([A-Z][A-Z0-9_]+)`\s*\|", line)
            if m:
                names.add(m.group(1))
    return names
