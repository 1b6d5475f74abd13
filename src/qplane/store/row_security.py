"""Which tables PostgreSQL row-level security fences, and the SQL that fences one.

Migrations call `fence` for each tenant table they create (0011 fenced the
tables that existed then); `TENANT_TABLES` lists every table fenced at the
head revision, and a test checks it against the schema so that a new table
with a ``tenant_id`` cannot be added unfenced.
"""

from __future__ import annotations

from typing import Final

#: Table → the column naming the tenant that owns a row (NULL: the platform's).
TENANT_TABLES: Final[dict[str, str]] = {
    "tenants": "id",
    "projects": "tenant_id",
    "principals": "tenant_id",
    "project_members": "tenant_id",
    "principal_groups": "tenant_id",
    "jobs": "tenant_id",
    "job_transitions": "tenant_id",
    "artifacts": "tenant_id",
    "leases": "tenant_id",
    "audit_entries": "tenant_id",
    "mfa_totp": "tenant_id",
    "device_authorizations": "tenant_id",
    "browser_sessions": "tenant_id",
    "refresh_tokens": "tenant_id",
    "api_keys": "tenant_id",
    "trust_policies": "tenant_id",
    "oidc_providers": "tenant_id",
    "oidc_login_flows": "tenant_id",
    "oidc_identities": "tenant_id",
    "saml_providers": "tenant_id",
    "saml_login_requests": "tenant_id",
    "saml_seen_assertions": "tenant_id",
    "saml_identities": "tenant_id",
    "policy_versions": "tenant_id",
    "policy_settings": "tenant_id",
    "key_rings": "tenant_id",
    "key_versions": "tenant_id",
    "key_shred_requests": "tenant_id",
    "audit_keys": "tenant_id",
    "elevations": "tenant_id",
    "quotas": "tenant_id",
    "fair_share": "tenant_id",
    "reservations": "tenant_id",
}

POLICY: Final = "tenant_isolation"
PLATFORM_EVENTS: Final = "platform_events"
_SETTING: Final = "current_setting('qplane.tenant_id', true)"


def fence(
    table: str, column: str, *, claimable: bool = False, platform_writable: bool = False
) -> list[str]:
    """Statements that confine *table* to the transaction's tenant (none set: unconfined).

    An unset custom setting reads as NULL, and as '' once a transaction of
    the same connection has set and ended it: both mean unconfined. Rows
    whose column is NULL belong to no tenant and are hidden from confined
    transactions, unless *claimable* (a device grant, visible until a tenant
    approves it). With *platform_writable* a confined transaction may insert
    such rows but never read them (a probe recorded in the platform chain).
    """
    visible = f"coalesce({_SETTING}, '') = '' OR {column} = {_SETTING}"
    if claimable:
        visible += f" OR {column} IS NULL"
    statements = [
        f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
        f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY",
        f"CREATE POLICY {POLICY} ON {table} USING ({visible})",
    ]
    if platform_writable:
        statements.append(
            f"CREATE POLICY {PLATFORM_EVENTS} ON {table} FOR INSERT WITH CHECK ({column} IS NULL)"
        )
    return statements


def unfence(table: str) -> list[str]:
    return [
        f"DROP POLICY IF EXISTS {PLATFORM_EVENTS} ON {table}",
        f"DROP POLICY IF EXISTS {POLICY} ON {table}",
        f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY",
        f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY",
    ]
