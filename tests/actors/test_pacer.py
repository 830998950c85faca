import math

import pytest

from likeability.actors.pacer import TokenPacer


def call_and_answer(pacer: TokenPacer, now: float, **answer) -> None:
    assert pacer.delay(now) == 0.0
    pacer.record_call(now)
    pacer.record_answer(now, **answer)


def test_bursts_up_to_the_limit_then_waits_for_the_window_with_margin():
    pacer = TokenPacer(calls=3, window=10.0, max_in_flight=3, margin=0.02)
    for _ in range(3):
        assert pacer.delay(0.0) == 0.0
        pacer.record_call(0.0)
    for _ in range(3):
        pacer.record_answer(0.5)
    assert pacer.delay(1.0) == pytest.approx(9.2)  # 10.2 s local window: a little longer than the server's


def test_calls_in_flight_never_exceed_the_allowance():
    pacer = TokenPacer(calls=100, window=10.0, max_in_flight=2)
    pacer.record_call(0.0)
    pacer.record_call(0.0)
    assert math.isinf(pacer.delay(0.0))  # wait for an answer, however long the window allows
    pacer.record_answer(0.1)
    assert pacer.delay(0.1) == 0.0


def test_high_reported_usage_spaces_calls_at_the_average_rate():
    pacer = TokenPacer(calls=10, window=10.0, max_in_flight=4, slow_down_from=0.8, margin=0.0)
    call_and_answer(pacer, 0.0, usage=0.5)
    assert pacer.delay(0.1) == 0.0  # local window has room and the server is not worried
    call_and_answer(pacer, 0.1, usage=0.9)  # e.g. calls made before a restart
    assert pacer.delay(0.1) == pytest.approx(1.0)  # one call per window/limit = 1 s after the last


def test_spacing_follows_slots_so_late_wakeups_do_not_add_up():
    pacer = TokenPacer(calls=10, window=10.0, max_in_flight=4, slow_down_from=0.8, margin=0.0)
    call_and_answer(pacer, 0.0, usage=0.9)
    pacer.record_call(1.2)  # woke 0.2 s late for the 1.0 s slot
    pacer.record_answer(1.2, usage=0.9)
    assert pacer.delay(1.2) == pytest.approx(0.8)  # the next slot is still 2.0, not 2.2
    pacer.record_call(9.0)  # idle for a while: no credit for the missed slots
    pacer.record_answer(9.0, usage=0.9)
    assert pacer.delay(9.0) == pytest.approx(1.0)


def test_a_block_holds_every_call_and_only_lengthens():
    pacer = TokenPacer(calls=100, window=60.0)
    pacer.block(now=5.0, seconds=30.0)
    pacer.block(now=6.0, seconds=1.0)
    assert pacer.delay(10.0) == pytest.approx(25.0)
    assert pacer.delay(35.0) == 0.0


@pytest.mark.parametrize(
    "answer, blocked_for",
    [
        ({"refused": True, "retry_after": 7.0}, 7.0),
        ({"refused": True, "retry_after": 7.0, "regain_seconds": 60.0}, 7.0),  # seconds beat whole minutes
        ({"refused": True, "regain_seconds": 120.0}, 120.0),
        ({"refused": True, "regain_seconds": 7200.0}, 3600.0),  # capped at a window: it is empty by then
        ({"refused": True}, 3600.0),  # no hint at all: a whole window
        ({"refused": False, "regain_seconds": 120.0}, 120.0),
    ],
)
def test_each_throttle_hint_sets_the_block(answer, blocked_for):
    pacer = TokenPacer(calls=100, window=3600.0, margin=0.0)
    pacer.record_call(0.0)
    pacer.record_answer(0.0, **answer)
    assert pacer.delay(0.0) == pytest.approx(blocked_for)


def test_full_usage_on_an_accepted_call_waits_for_our_oldest_call_to_leave_the_window():
    pacer = TokenPacer(calls=50, window=10.0, max_in_flight=4, margin=0.0)
    call_and_answer(pacer, 0.0, usage=0.5)
    call_and_answer(pacer, 3.0, usage=1.0)  # the real limit is lower than ours: the server is full
    assert pacer.delay(3.0) == pytest.approx(7.0)  # the call at 0.0 leaves at 10.0


def test_after_a_block_one_probe_then_one_more_call_per_good_answer():
    pacer = TokenPacer(calls=1000, window=10.0, max_in_flight=4)
    for _ in range(4):
        pacer.record_call(0.0)
    pacer.record_answer(0.1, refused=True, retry_after=5.0)
    for _ in range(3):
        pacer.record_answer(0.1, refused=True, retry_after=5.0)  # the calls that were already in flight
    assert pacer.delay(5.1) == 0.0
    pacer.record_call(5.1)  # the probe
    assert math.isinf(pacer.delay(5.1))
    pacer.record_answer(5.2)
    allowed = []
    for step in range(4):
        now = 5.3 + step
        while pacer.delay(now) == 0.0:
            pacer.record_call(now)
        allowed.append(pacer.in_flight)
        for _ in range(pacer.in_flight):
            pacer.record_answer(now)
    assert allowed == [2, 4, 4, 4]  # doubling each round (slow start), up to max_in_flight


def test_refused_and_failed_answers_do_not_ramp_up():
    pacer = TokenPacer(calls=1000, window=10.0, max_in_flight=4)
    pacer.block(0.0, 1.0)
    call_and_answer(pacer, 2.0, failed=True)
    assert pacer.allowed_in_flight == 1
    call_and_answer(pacer, 2.0)
    assert pacer.allowed_in_flight == 2
