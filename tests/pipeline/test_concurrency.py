"""Little's law sizing of the versions in flight (migrator.pipeline.concurrency)."""

from __future__ import annotations

from migrator.pipeline.concurrency import LittlesLaw


def test_starts_at_the_floor_until_a_write_was_seen():
    pace = LittlesLaw(90, floor=8, cap=128)
    assert pace.limit == 8
    pace.observe(0.5, 0)  # a verification: time, no writes
    assert pace.limit == 8


def test_grows_with_latency_so_the_budget_is_reachable():
    near, far = LittlesLaw(90, floor=8, cap=128), LittlesLaw(90, floor=8, cap=128)
    for _ in range(50):
        near.observe(0.2, 3)  # 25 ms: a Maven version of 3 writes in 0.2 s
        far.observe(0.8, 3)  # 100 ms: the same version takes four times as long
    assert near.limit == 9  # 90/s * 0.2/3 s * 1.5 = 9
    assert far.limit == 36  # 90/s * 0.8/3 s * 1.5 = 36


def test_never_above_the_cap_nor_below_the_floor():
    pace = LittlesLaw(90, floor=4, cap=20)
    for _ in range(20):
        pace.observe(10.0, 1)
    assert pace.limit == 20
    quick = LittlesLaw(90, floor=4, cap=20)
    for _ in range(20):
        quick.observe(0.001, 5)
    assert quick.limit == 4


def test_follows_a_change_in_latency():
    pace = LittlesLaw(100, floor=1, cap=500, headroom=1.0)
    for _ in range(200):
        pace.observe(0.1, 1)
    assert pace.limit == 10
    for _ in range(200):
        pace.observe(0.5, 1)
    assert pace.limit == 50
