from likeability.collect.ratelimit import SlidingWindow
from likeability.config import TokenBehaviour
from likeability.simulator.token_watch import TokenWatch

LATENCY, GRACE = 0.05, 0.25


def watch(limit: int = 2, **behaviour) -> TokenWatch:
    return TokenWatch(TokenBehaviour(**behaviour), SlidingWindow(limit, 10.0), LATENCY, GRACE)


def calls(token: TokenWatch, *arrivals: float | tuple[float, str]) -> list[str]:
    """Each call arrives at a time (on its own connection, or on a named one) and its notice, if any, is
    delivered intact LATENCY later."""
    outcomes = []
    for arrival in arrivals:
        now, connection = arrival if isinstance(arrival, tuple) else (arrival, object())
        verdict = token.arrive(now, connection)
        if verdict.outcome != "accepted":
            token.tell(now + LATENCY, connection)
        outcomes.append(verdict.outcome)
    return outcomes


def test_calls_in_flight_when_the_block_began_are_not_counted_but_later_ones_are():
    token = watch()
    assert calls(token, 0.0, 0.0, 1.0, 1.01, 1.2, 5.0) == ["accepted"] * 2 + ["refused"] * 4
    assert token.counts()["calls_while_throttled"] == 1  # only the call at 5.0: 1.01 and 1.2 were in flight


def test_a_call_on_the_connection_that_carried_the_refusal_was_sent_after_reading_it():
    token = watch()
    assert calls(token, 0.0, 0.0, (1.0, "a"), (1.1, "a")) == ["accepted"] * 2 + ["refused"] * 2
    assert token.counts()["calls_while_throttled"] == 1


def test_a_refusal_spoiled_on_the_way_tells_nothing():
    token = watch()
    calls(token, 0.0, 0.0)
    assert [token.arrive(t).outcome for t in (1.0, 5.0)] == ["refused", "refused"]  # no tell(): never delivered
    assert token.counts()["calls_while_throttled"] == 0


def test_a_refusal_says_when_the_window_takes_a_call_again_counting_the_refused_call():
    token = watch()
    calls(token, 0.0, 4.0)
    assert token.arrive(6.0).wait == 8.0  # the calls at 0.0 and 4.0 must both leave: the refused one counts


def test_after_a_block_calls_beside_the_unanswered_probe_count():
    token = watch()
    calls(token, 0.0, 0.1, 0.2)  # the third is refused; the window frees at 10.0, 10.1 and 10.2
    assert calls(token, 10.3, 10.31, 10.4) == ["accepted", "accepted", "refused"]
    # 10.31 came before the probe's answer left at 10.35; 10.4 was refused, but no block had been told yet
    assert token.counts() == {"calls_while_throttled": 0, "calls_beside_probe": 1, "calls_after_death": 0}


def test_one_probe_at_a_time_counts_nothing():
    token = watch()
    calls(token, 0.0, 0.1, 0.2)
    assert calls(token, 10.3, 10.4, 10.5) == ["accepted", "accepted", "refused"]
    assert sum(token.counts().values()) == 0


def test_a_dying_token_counts_calls_after_its_death_was_told():
    token = watch(limit=100, dies_after_calls=3)
    assert calls(token, 0.0, 0.1, 0.2, (0.3, "a"), 0.31, (0.32, "a"), 1.0) == ["accepted"] * 3 + ["dead"] * 4
    assert token.counts()["calls_after_death"] == 2  # 0.32 on the connection that carried the news, and 1.0
