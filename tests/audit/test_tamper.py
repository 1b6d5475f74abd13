"""Tampering behind qplane's back, on SQLite and PostgreSQL: every case is caught and named.

Each case edits the database directly, as an operator or an intruder with
database access could: edit a row, delete one, reorder two, insert one,
cut the tail off (as a careful attacker: nodes and head too), and rewrite the
log and re-sign its checkpoints with a key of their own. Three checks must
each catch it and name the same entry or checkpoint: the server's
self-check (the service, and ``GET /v1/audit/verify``), and the offline
verification of an export taken after the tampering, with the verifier keys
the tenant fetched before it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from tests.api import conftest as api_fixtures
from tests.api.conftest import TenantCtx
from tests.audit.test_export import export, grow, vkeys

from qplane.audit.checkpoint import sign_checkpoint
from qplane.audit.entry import entry_leaf
from qplane.audit.merkle_tree import CompactRange
from qplane.audit.note import Ed25519NoteSigner
from qplane.audit.offline import verify_export
from qplane.audit.verify import LogReport
from qplane.bootstrap import Platform
from qplane.store.models_audit import AuditEntryRow

platform = api_fixtures.platform
client = api_fixtures.client
operator_mfa = api_fixtures.operator_mfa
operator_headers = api_fixtures.operator_headers
acme = api_fixtures.acme

_COLUMNS = ", ".join(column.name for column in AuditEntryRow.__table__.columns)


@dataclass(frozen=True)
class History:
    """The tenant's log before tampering: its size and its checkpoints (the last at the end)."""

    log: str
    size: int
    checkpoints: list[int]
    platform: Platform

    @property
    def engine(self) -> Engine:
        return self.platform.database.engine

    def sql(self, statement: str, **params: Any) -> None:
        with self.engine.begin() as conn:
            conn.execute(text(statement), {"log": self.log, **params})


@dataclass(frozen=True)
class Named:
    """Where a check must say the log is broken."""

    index: int | None = None
    checkpoint: int | None = None


@pytest.fixture
def history(client: TestClient, platform: Platform, acme: TenantCtx) -> History:
    sizes = grow(client, acme, jobs=9, checkpoints=3)  # three entries per job
    # Fetching a checkpoint is itself recorded: the platform's own signature ends the log.
    sizes.append(platform.audit.sign(acme.tenant_id).size)
    with platform.database.unit_of_work() as uow:
        head = uow.audit.head(acme.tenant_id)
    assert head is not None
    assert sizes[-1] == head.size >= 30
    assert sizes[2] - sizes[1] >= 9  # room to cut the tail between two checkpoints
    return History(acme.tenant_id, head.size, sizes, platform)


# -- the attacks ------------------------------------------------------------------------


def edit_a_field(log: History) -> tuple[Named, Named]:
    k = log.checkpoints[0] + 1
    log.sql("UPDATE audit_entries SET target = 'prj_forged' WHERE log = :log AND idx = :k", k=k)
    return Named(index=k), Named(index=k)


def delete_a_middle_row(log: History) -> tuple[Named, Named]:
    k = log.checkpoints[0] + 2
    log.sql("DELETE FROM audit_entries WHERE log = :log AND idx = :k", k=k)
    return Named(index=k), Named(index=k)


def reorder_two_rows(log: History) -> tuple[Named, Named]:
    a, b = log.checkpoints[0] + 1, log.checkpoints[1] + 1
    log.sql("UPDATE audit_entries SET idx = -1 WHERE log = :log AND idx = :a", a=a)
    log.sql("UPDATE audit_entries SET idx = :a WHERE log = :log AND idx = :b", a=a, b=b)
    log.sql("UPDATE audit_entries SET idx = :b WHERE log = :log AND idx = -1", b=b)
    return Named(index=a), Named(index=a)


def insert_a_row(log: History) -> tuple[Named, Named]:
    """A forged entry at k, later ones moved up a place (the one pushed past the end dropped)."""
    k, far = log.checkpoints[0] + 3, 1_000_000
    log.sql("DELETE FROM audit_entries WHERE log = :log AND idx = :last", last=log.size - 1)
    log.sql(
        "UPDATE audit_entries SET idx = idx + :far WHERE log = :log AND idx >= :k", k=k, far=far
    )
    log.sql(
        "UPDATE audit_entries SET idx = idx - :far + 1 WHERE log = :log AND idx >= :far", far=far
    )
    forged = _COLUMNS.replace("idx", ":k").replace("action", "'tenant.delete'")
    log.sql(
        f"INSERT INTO audit_entries ({_COLUMNS}) "  # noqa: S608 - column names from the model
        f"SELECT {forged} FROM audit_entries WHERE log = :log AND idx = :source",
        k=k,
        source=k + 1,
    )
    return Named(index=k), Named(index=k)


def truncate_the_tail(log: History) -> tuple[Named, Named]:
    """Entries, nodes and head cut back, as if the last entries had never been appended."""
    cut = log.checkpoints[1] + 2
    _cut_back(log, cut)
    # The server finds fewer entries than a checkpoint commits to; the export cannot
    # prove that checkpoint extends the ones before it.
    return Named(index=cut), Named(checkpoint=log.checkpoints[2])


def resign_with_a_wrong_key(log: History) -> tuple[Named, Named]:
    """Entries rewritten, the tree recomputed, every checkpoint re-signed by the attacker."""
    k = log.checkpoints[0] + 1
    log.sql("UPDATE audit_entries SET outcome = 'denied' WHERE log = :log AND idx = :k", k=k)
    roots = _rebuild_tree(log)
    audit = log.platform.audit
    attacker = Ed25519NoteSigner(audit.keys.origin, ed25519.Ed25519PrivateKey.generate())
    for size in log.checkpoints:
        note = sign_checkpoint(audit.origin(log.log), size, roots[size], [attacker])
        log.sql(
            "UPDATE audit_checkpoints SET root_hash = :root, note = :note "
            "WHERE log = :log AND size = :size",
            root=roots[size],
            note=note,
            size=size,
        )
    first = Named(checkpoint=log.checkpoints[0])
    return first, first


ATTACKS: list[Callable[[History], tuple[Named, Named]]] = [
    edit_a_field,
    delete_a_middle_row,
    reorder_two_rows,
    insert_a_row,
    truncate_the_tail,
    resign_with_a_wrong_key,
]


# -- the checks -------------------------------------------------------------------------


def test_an_intact_log_passes_the_self_check_and_offline_verification(
    client: TestClient, platform: Platform, acme: TenantCtx, history: History
) -> None:
    assert platform.audit.verify(history.log).ok
    assert client.get("/v1/audit/verify", headers=acme.headers).json()["ok"] is True
    report = verify_export(export(client, acme), vkeys(client))
    assert report.ok, report.describe()


@pytest.mark.parametrize("attack", ATTACKS, ids=[a.__name__ for a in ATTACKS])
def test_tampering_is_named_by_the_self_check_and_by_offline_verification(
    client: TestClient,
    platform: Platform,
    acme: TenantCtx,
    history: History,
    attack: Callable[[History], tuple[Named, Named]],
) -> None:
    trusted = vkeys(client)  # fetched, and pinned, before the attack
    server, offline = attack(history)

    _assert_named(platform.audit.verify(history.log), server)
    answer = client.get("/v1/audit/verify", headers=acme.headers).json()
    assert answer["ok"] is False
    assert Named(answer["first_bad_index"], answer["bad_checkpoint"]) == server
    report = verify_export(export(client, acme), trusted)
    _assert_named(report, offline)


def test_a_rewind_that_also_dropped_its_checkpoints_is_caught_by_the_tenants_pin(
    client: TestClient, platform: Platform, acme: TenantCtx, history: History
) -> None:
    pinned = client.get("/v1/audit/checkpoint", headers=acme.headers).json()["note"]
    trusted = vkeys(client)
    _cut_back(history, history.checkpoints[1] + 2)
    history.sql(
        "DELETE FROM audit_checkpoints WHERE log = :log AND size > :c", c=history.checkpoints[1]
    )
    # The database alone no longer shows it: nothing left contradicts the cut log ...
    assert platform.audit.verify(history.log).ok
    lines = export(client, acme)
    assert verify_export(lines, trusted).ok
    # ... but the checkpoint the tenant pinned does, offline and online.
    _assert_named(verify_export(lines, trusted, pinned), Named(checkpoint=history.checkpoints[-1]))
    proof = client.get(
        "/v1/audit/proofs/consistency",
        params={"old_size": history.checkpoints[-1]},
        headers=acme.headers,
    )
    assert proof.status_code == 404


# -- helpers ----------------------------------------------------------------------------


def _assert_named(report: LogReport, where: Named) -> None:
    assert not report.ok
    assert Named(report.first_bad_index, report.bad_checkpoint) == where, report.describe()


def _cut_back(log: History, cut: int) -> None:
    """Delete entries and tree nodes from *cut* on, and move the head back to *cut*."""
    log.sql("DELETE FROM audit_entries WHERE log = :log AND idx >= :cut", cut=cut)
    for level in range(log.size.bit_length() + 1):
        log.sql(
            "DELETE FROM audit_nodes WHERE log = :log AND level = :level AND idx >= :first",
            level=level,
            first=cut >> level,
        )
    with log.engine.connect() as conn:
        leaves = conn.execute(
            text("SELECT hash FROM audit_nodes WHERE log = :log AND level = 0 ORDER BY idx"),
            {"log": log.log},
        ).scalars()
        border = CompactRange()
        for leaf in leaves:
            border.append(bytes(leaf))
    assert border.size == cut
    log.sql(
        "UPDATE audit_logs SET size = :cut, border = :border, root = :root WHERE log = :log",
        cut=cut,
        border=b"".join(border.hashes),
        root=border.root(),
    )


def _rebuild_tree(log: History) -> dict[int, bytes]:
    """Recompute every node and the head from the (rewritten) entries; the root at each size."""
    with log.platform.database.unit_of_work() as uow:
        entries = list(uow.audit.entries(log.log))
    border, nodes, roots = CompactRange(), [], {}
    for entry in entries:
        nodes.extend(border.append(entry_leaf(entry)))
        roots[border.size] = border.root()
    log.sql("DELETE FROM audit_nodes WHERE log = :log")
    with log.engine.begin() as conn:
        conn.execute(
            text("INSERT INTO audit_nodes (log, level, idx, hash) VALUES (:log, :l, :i, :h)"),
            [{"log": log.log, "l": n.level, "i": n.index, "h": h} for n, h in nodes],
        )
    log.sql(
        "UPDATE audit_logs SET border = :border, root = :root WHERE log = :log",
        border=b"".join(border.hashes),
        root=border.root(),
    )
    return roots
