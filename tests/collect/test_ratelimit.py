import pytest

from likeability.collect.ratelimit import SlidingWindow


def test_fills_then_waits_for_the_oldest_call_to_leave():
    window = SlidingWindow(limit=3, window=10.0)
    for now in (0.0, 1.0, 2.0):
        assert window.wait(now) == 0.0
        window.record(now)
    assert window.count(2.5) == 3
    assert window.wait(2.5) == pytest.approx(7.5)
    assert window.wait(10.0) == 0.0  # the call at t=0 has left the window


def test_usage_is_the_fraction_of_the_limit():
    window = SlidingWindow(limit=4, window=1.0)
    window.record(0.0)
    window.record(0.5)
    assert window.usage(0.6) == 0.5
    assert window.usage(1.2) == 0.25
    assert window.usage(5.0) == 0.0


def test_over_the_limit_waits_until_enough_calls_expire():
    window = SlidingWindow(limit=2, window=10.0)
    for now in (0.0, 1.0, 2.0, 3.0):  # two calls beyond the limit, as a throttled client would make
        window.record(now)
    # two calls must leave before a fifth fits: the ones at t=0, 1, and 2 -> wait until t=12
    assert window.wait(3.0) == pytest.approx(9.0)


@pytest.mark.parametrize("limit,span", [(0, 1.0), (1, 0.0), (-1, 5.0)])
def test_rejects_nonsense(limit, span):
    with pytest.raises(ValueError):
        SlidingWindow(limit, span)


def test_until_the_oldest_call_leaves():
    window = SlidingWindow(limit=10, window=10.0)
    assert window.until_oldest_leaves(0.0) == 0.0
    window.record(1.0)
    window.record(4.0)
    assert window.until_oldest_leaves(5.0) == pytest.approx(6.0)
    assert window.until_oldest_leaves(12.0) == pytest.approx(2.0)  # the call at 1.0 has left; 4.0 is the oldest
