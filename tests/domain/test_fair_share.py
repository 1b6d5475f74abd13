"""Start-time fair queueing: device time in proportion to weight, no banked credit."""

from __future__ import annotations

from qplane.domain.fair_share import charge, jain_index, order, start_tag


def simulate(weights: dict[str, int], costs: dict[str, float], picks: int) -> dict[str, float]:
    """Always-backlogged tenants served by the real ordering and charging functions."""
    clock, tags, received = 0.0, {}, dict.fromkeys(weights, 0.0)
    for _ in range(picks):
        start, tenant = order(list(weights), clock, tags)[0]
        clock = start
        tags[tenant] = charge(start, costs[tenant], weights[tenant])
        received[tenant] += costs[tenant]
    return received


def test_equal_weights_get_equal_device_time_whatever_their_job_sizes() -> None:
    received = simulate({"a": 1, "b": 1}, {"a": 10.0, "b": 1.0}, 220)
    assert abs(received["a"] - received["b"]) <= 10.0


def test_device_time_follows_the_weights() -> None:
    received = simulate({"gold": 4, "basic": 1}, {"gold": 1.0, "basic": 1.0}, 500)
    assert 3.8 <= received["gold"] / received["basic"] <= 4.2


def test_an_idle_tenant_starts_at_the_clock_and_banks_no_credit() -> None:
    assert start_tag(clock=100.0, finish_tag=None) == 100.0
    assert start_tag(clock=100.0, finish_tag=3.0) == 100.0
    assert start_tag(clock=100.0, finish_tag=120.0) == 120.0


def test_ties_are_broken_by_tenant_id() -> None:
    assert [t for _, t in order(["b", "a"], 0.0, {})] == ["a", "b"]


def test_jains_index_is_one_when_fair_and_one_over_n_when_one_takes_all() -> None:
    assert jain_index([5.0, 5.0, 5.0]) == 1.0
    assert abs(jain_index([9.0, 0.0, 0.0]) - 1 / 3) < 1e-12
