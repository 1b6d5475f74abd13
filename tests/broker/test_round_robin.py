"""The scheduler serves tenants in turn, starting after the one it served last."""

from __future__ import annotations

from qplane.broker.scheduler import round_robin_order


def test_first_pick_starts_with_the_lowest_tenant() -> None:
    assert round_robin_order(["b", "a", "c"], None) == ["a", "b", "c"]


def test_next_pick_starts_after_the_last_served_tenant() -> None:
    assert round_robin_order(["a", "b", "c"], "a") == ["b", "c", "a"]
    assert round_robin_order(["a", "b", "c"], "c") == ["a", "b", "c"]


def test_a_served_tenant_that_left_the_queue_does_not_break_the_rotation() -> None:
    assert round_robin_order(["a", "c"], "b") == ["c", "a"]


def test_every_tenant_gets_a_turn_before_any_gets_a_second() -> None:
    tenants, last, served = ["t1", "t2", "t3", "t4"], None, []
    for _ in range(8):
        last = round_robin_order(tenants, last)[0]
        served.append(last)
    assert served == tenants * 2
