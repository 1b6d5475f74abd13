"""Migration 0013: the hash chains of earlier releases become Merkle logs, entry for entry."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import text

from qplane.audit.entry import entry_leaf
from qplane.audit.merkle import merkle_tree_hash
from qplane.store import Database
from qplane.store import database as database_module

pytestmark = pytest.mark.empty_database

_OLD_ROWS = [
    ("ten_a", 1, "job.submitted", "success", "ten_a", "usr_1", "job_1", "req-1", None),
    ("ten_a", 2, "job.queued", "success", "ten_a", None, "job_1", None, "queued"),
    ("platform", 1, "authz.deny", "denied", None, "usr_2", "ten_b", "req-2", "probe"),
    ("ten_a", 3, "job.cancelled", "success", "ten_a", "usr_1", "job_1", "req-3", None),
]


def _upgrade_to(db: Database, revision: str) -> None:
    config = database_module._alembic_config()
    with database_module._UPGRADE_IN_PROCESS, db.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def test_existing_chains_move_over_in_order(database_url: str) -> None:
    db = Database(database_url)
    try:
        _upgrade_to(db, "0012")
        with db.engine.begin() as conn:
            for chain, seq, action, outcome, tenant, actor, target, request, detail in _OLD_ROWS:
                conn.execute(
                    text(
                        "INSERT INTO audit_entries (chain, seq, at, action, outcome, tenant_id,"
                        " actor_id, target, request_id, detail, prev_hash, entry_hash) VALUES"
                        " (:chain, :seq, :at, :action, :outcome, :tenant, :actor, :target,"
                        " :request, :detail, :h, :h)"
                    ),
                    {
                        "chain": chain,
                        "seq": seq,
                        "at": f"2025-05-01 10:00:0{seq}+00:00",
                        "action": action,
                        "outcome": outcome,
                        "tenant": tenant,
                        "actor": actor,
                        "target": target,
                        "request": request,
                        "detail": detail,
                        "h": "0" * 64,
                    },
                )
            conn.execute(
                text("INSERT INTO audit_heads (chain, seq, entry_hash) VALUES (:c, :s, :h)"),
                [{"c": "ten_a", "s": 3, "h": "0" * 64}, {"c": "platform", "s": 1, "h": "0" * 64}],
            )
        db.upgrade()
        with db.unit_of_work() as uow:
            moved = list(uow.audit.entries("ten_a"))
            head = uow.audit.head("ten_a")
            assert [(e.index, e.action, e.request_id) for e in moved] == [
                (0, "job.submitted", "req-1"),
                (1, "job.queued", None),
                (2, "job.cancelled", "req-3"),
            ]
            assert {e.clock for e in moved} == {"migrated:hash-chain-v1"}
            assert head is not None
            assert head.size == 3
            assert head.root == merkle_tree_hash([entry_leaf(e) for e in moved])
            platform = list(uow.audit.entries("platform"))
            assert [(e.action, e.tenant_id, e.detail) for e in platform] == [
                ("authz.deny", None, "probe")
            ]
            assert [i for i, _ in uow.audit.leaf_hashes("ten_a", 0, 3)] == [0, 1, 2]
            assert uow.audit.node("ten_a", 0, 2) == entry_leaf(moved[2])
    finally:
        db.dispose()
