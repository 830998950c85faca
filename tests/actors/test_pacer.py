import pytest

from likeability.actors.pacer import TokenPacer


def test_bursts_up_to_the_limit_then_waits_for_the_window_with_margin():
    pacer = TokenPacer(calls=3, window=10.0, margin=0.02)
    for _ in range(3):
        assert pacer.delay(0.0) == 0.0
        pacer.record_call(0.0)
    assert pacer.delay(1.0) == pytest.approx(9.2)  # 10.2 s local window: a little longer than the server's


def test_high_reported_usage_spaces_calls_at_the_average_rate():
    pacer = TokenPacer(calls=10, window=10.0, slow_down_from=0.8, margin=0.0)
    pacer.record_call(0.0)
    pacer.observe(usage=0.5, regain_seconds=0, now=0.0)
    assert pacer.delay(0.1) == 0.0  # local window has room and the server is not worried
    pacer.observe(usage=0.9, regain_seconds=0, now=0.1)  # e.g. calls made before a restart
    assert pacer.delay(0.1) == pytest.approx(0.9)  # one call per window/limit = 1 s after the last


def test_spacing_follows_slots_so_late_wakeups_do_not_add_up():
    pacer = TokenPacer(calls=10, window=10.0, slow_down_from=0.8, margin=0.0)
    pacer.observe(usage=0.9, regain_seconds=0, now=0.0)
    pacer.record_call(0.0)
    pacer.record_call(1.2)  # woke 0.2 s late for the 1.0 s slot
    assert pacer.delay(1.2) == pytest.approx(0.8)  # the next slot is still 2.0, not 2.2
    pacer.record_call(9.0)  # idle for a while: no credit for the missed slots
    assert pacer.delay(9.0) == pytest.approx(1.0)


def test_a_block_holds_every_call_and_only_lengthens():
    pacer = TokenPacer(calls=100, window=60.0)
    pacer.block(now=5.0, seconds=30.0)
    pacer.block(now=6.0, seconds=1.0)
    assert pacer.delay(10.0) == pytest.approx(25.0)
    assert pacer.delay(35.0) == 0.0


def test_regain_time_from_usage_headers_blocks():
    pacer = TokenPacer(calls=100, window=60.0)
    pacer.observe(usage=1.0, regain_seconds=120.0, now=0.0)
    assert pacer.delay(60.0) == pytest.approx(60.0)
