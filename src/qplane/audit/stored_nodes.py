"""One log's stored tree nodes as the `NodeStore` that proofs are computed from."""

from __future__ import annotations

from qplane.audit.merkle_tree import NodeId
from qplane.domain.ports import AuditRepository


class StoredNodes:
    """The `NodeStore` view of one log's node rows (read-only: appends go through `record`)."""

    def __init__(self, audit: AuditRepository, log: str) -> None:
        self._audit = audit
        self._log = log

    def node(self, node: NodeId) -> bytes:
        return self._audit.node(self._log, node.level, node.index)

    def add_nodes(self, nodes: object) -> None:
        raise TypeError("the audit tree is appended to only by qplane.audit.log.record")
