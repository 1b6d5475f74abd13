"""Row-level security on every tenant table (PostgreSQL only).

A transaction the application has confined to a tenant (``qplane.tenant_id``
set with ``set_config(…, true)``, see `qplane.store.database`) sees and writes
only that tenant's rows, whatever its SQL says. A transaction with no tenant
setting is unconfined: operators, workers, the scheduler and log-in span
tenants by design.

``FORCE`` makes the policies apply to the tables' owner too, which is the
role qplane connects as. Superusers and ``BYPASSRLS`` roles still bypass
them; qplane warns at start-up when it connects as one.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from alembic import op

from qplane.store.row_security import fence, unfence

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Table → the column naming the tenant that owns a row. Rows whose column is
#: NULL (operators, the platform audit chain) belong to no tenant and are
#: hidden from confined transactions too, with the two exceptions below.
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
    "tenant_keys": "tenant_id",
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
}

#: A device grant is claimed by whoever approves it: until then it has no
#: tenant, and the approving tenant's confined request must find it by code.
_CLAIMABLE: Final = frozenset({"device_authorizations"})
#: A tenant's request may record a platform event (a probe of another tenant,
#: a refused platform action) in the platform chain, but never read it.
_PLATFORM_WRITABLE: Final = frozenset({"audit_entries"})


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column in TENANT_TABLES.items():
        statements = fence(
            table,
            column,
            claimable=table in _CLAIMABLE,
            platform_writable=table in _PLATFORM_WRITABLE,
        )
        for statement in statements:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TENANT_TABLES:
        for statement in unfence(table):
            op.execute(statement)
