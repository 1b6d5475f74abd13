"""An in-memory `TenantKeyRepository` for tests: a dict, holding only what a store would."""

from __future__ import annotations


class MemoryTenantKeys:
    """A dict-backed `TenantKeyRepository`: what a store would hold, nothing more."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, int], bytes] = {}

    def latest(self, tenant_id: str) -> tuple[int, bytes] | None:
        versions = [version for (tenant, version) in self.rows if tenant == tenant_id]
        if not versions:
            return None
        newest = max(versions)
        return newest, self.rows[(tenant_id, newest)]

    def get(self, tenant_id: str, version: int) -> bytes | None:
        return self.rows.get((tenant_id, version))

    def add(self, tenant_id: str, version: int, wrapped: bytes) -> None:
        if (tenant_id, version) in self.rows:
            raise AssertionError("a key version is written once")
        self.rows[(tenant_id, version)] = wrapped
