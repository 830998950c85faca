"""The collector: spreads accounts over TokenActors by work stealing and commits them in units, exactly once.

A unit is a fixed group of accounts. It commits by writing its `posts`, `dropped_posts` and `failed_users`
parts and then, last, its `users` part, all under one key: a unit is committed exactly when its users part
exists. On a resumed run, parts of a unit that died before its users part are removed, every account of a
committed unit is skipped, and the rest are grouped into units again, so no account is fetched into two
committed units and no post is written twice.
"""

from __future__ import annotations

import hashlib
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import ray
from ray.exceptions import ActorDiedError, RayActorError

from likeability.actors.account_client import AccountResult
from likeability.actors.token_actor import TokenActor
from likeability.collect.post_rules import drop_reason
from likeability.collect.token_ledger import TokenLedger, TokenRecord
from likeability.collect.tokens import CollectionError, Redactor
from likeability.config import CollectConfig
from likeability.progress import Progress
from likeability.run import RunFolder

UNIT_TABLES = ("posts", "dropped_posts", "failed_users")  # written before "users", which commits the unit
STATE_POLL_SECONDS = 0.25  # how often the token actors are asked for their state (progress line, ledger)


@dataclass
class Unit:
    key: str
    usernames: list[str]
    results: dict[str, AccountResult] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return len(self.results) == len(self.usernames)


def plan_units(run: RunFolder, usernames: list[str], per_unit: int) -> list[Unit]:
    """Units for the accounts no committed unit holds, after clearing what a killed run left half-written."""
    run.discard_uncommitted(UNIT_TABLES, commit_table="users")
    done = set(run.table("users").read(["username"]).column("username").to_pylist())
    done |= set(run.table("failed_users").read(["username"]).column("username").to_pylist())
    pending = [name for name in usernames if name not in done]
    groups = [pending[i : i + per_unit] for i in range(0, len(pending), per_unit)]
    # The key names the accounts it holds, so a unit planned again from the same accounts reuses its key.
    return [Unit("u-" + hashlib.sha256("\n".join(g).encode()).hexdigest()[:20], g) for g in groups]


def commit_unit(run: RunFolder, unit: Unit, config: CollectConfig, now: datetime) -> None:
    users, posts, dropped, failed = [], {}, [], []
    for result in unit.results.values():
        if result.status != "ok":
            failed.append({"username": result.username, "reason": result.reason, "error_code": result.error_code})
            continue
        users.append(result.user)
        for post in result.posts:
            reason = drop_reason(post["timestamp"], post["caption"], now, config.min_age_days, config.hashtags)
            if reason:
                dropped.append({"media_id": post["media_id"], "username": post["username"], "reason": reason})
            else:
                posts.setdefault(post["media_id"], post)
    rows = {"posts": list(posts.values()), "dropped_posts": dropped, "failed_users": failed, "users": users}
    run.commit_unit(unit.key, rows, commit_table="users")


def progress_detail(states: list[dict]) -> str:
    """What the collect progress line adds: the calls made, and each token's state (by label, never the token)."""
    calls = sum(s["calls"] for s in states)
    return f"{calls} calls, " + " ".join(f"{s['label']}:{s['state']}" for s in states)


def collect_accounts(
    run: RunFolder,
    usernames: list[str],
    tokens: list[str],
    base_url: str,
    config: CollectConfig,
    now: datetime | None = None,
    echo: Callable[[str], None] | None = None,
) -> dict:
    """Collect every account not yet committed in `run`, judging post ages at `now` (default: the present);
    returns counts for the stage summary."""
    if not tokens:
        raise CollectionError("no access tokens: set collect.tokens.file or collect.tokens.env")
    now = now or datetime.now(UTC)
    units = plan_units(run, list(dict.fromkeys(usernames)), config.usernames_per_part)
    unit_of = {name: unit for unit in units for name in unit.usernames}
    crew = TokenCrew(run, tokens, base_url, config)
    progress = Progress("collect", len(unit_of), "accounts", echo)
    queue, done, next_poll = deque(unit_of), 0, 0.0
    try:
        while queue or crew.in_flight:
            crew.hand_out(queue)
            for result in crew.results(queue):
                unit = unit_of[result.username]
                unit.results[result.username] = result
                if unit.complete:
                    commit_unit(run, unit, config, now)
                done += 1
            if time.monotonic() >= next_poll:
                # Not per account: with many tokens, asking every actor after each account would load the driver.
                next_poll = time.monotonic() + STATE_POLL_SECONDS
                progress.show(done, progress_detail(crew.states()))
        states = crew.states()
        progress.show(done, progress_detail(states), final=True)
    except CollectionError as err:
        raise CollectionError(Redactor(tokens)(str(err))) from None
    finally:
        crew.stop()
    return {
        "accounts_collected": done,
        "calls": sum(s["calls"] for s in states),
        "throttled": sum(s["throttled"] for s in states),
        "retired_tokens": [s["label"] for s in states if s["state"] == "retired"],
    }


class TokenCrew:
    """One TokenActor per token, the accounts each is working on, and what they learnt of their tokens (kept in
    the run's token ledger, so a token retired or blocked in an earlier run is treated so from the start)."""

    def __init__(self, run: RunFolder, tokens: list[str], base_url: str, config: CollectConfig):
        self._tokens = tokens
        self._room = 2 * config.max_in_flight_per_token
        self._ledger = TokenLedger(run)
        retired = [i for i, token in enumerate(tokens) if self._ledger.get(token).retired]
        self._retired_before = [Redactor.label(i) for i in retired]
        self._actors = [
            TokenActor.options(num_cpus=config.cpus_per_token).remote(
                Redactor.label(i), token, base_url, config, run.location
            )
            for i, token in enumerate(tokens)
        ]
        self._usable = set(range(len(tokens))) - set(retired)
        self.in_flight: dict[ray.ObjectRef, tuple[int, str]] = {}

    def hand_out(self, queue: deque[str]) -> None:
        """Work stealing: an actor gets a new account only when it has room, so a slow or blocked token simply
        takes fewer and a retired one none. Room is twice what it runs at once: the spare accounts wait inside
        the actor, so it never idles for a round trip to the driver between two accounts."""
        for index in sorted(self._usable):
            while queue and sum(1 for i, _ in self.in_flight.values() if i == index) < self._room:
                name = queue.popleft()
                self.in_flight[self._actors[index].fetch_account.remote(name)] = (index, name)
        if not self.in_flight:
            earlier = f" ({', '.join(self._retired_before)} by an earlier run: replace them)"
            raise CollectionError(
                f"every token is retired or dead{earlier if self._retired_before else ''}; "
                f"{len(queue)} accounts left for a re-run"
            )

    def results(self, queue: deque[str]) -> list[AccountResult]:
        """The accounts answered within a second; those whose actor retired, died or restarts go back first
        in `queue`."""
        ready, _ = ray.wait(list(self.in_flight), num_returns=1, timeout=1.0)
        answered = []
        for ref in ready:
            index, name = self.in_flight.pop(ref)
            try:
                result = ray.get(ref)
            except ActorDiedError:
                result = None
            except RayActorError:
                queue.appendleft(name)  # restarting; Ray queues new calls until it is back
                continue
            if result is None:  # its token is retired, or its actor is gone for good
                self._usable.discard(index)
                queue.appendleft(name)
                continue
            answered.append(result)
        return answered

    def states(self) -> list[dict]:
        """Each actor's state (asked of all at once), remembered in the ledger for a restarted actor or run."""
        states = []
        for index, ref in enumerate([actor.state.remote() for actor in self._actors]):
            try:
                states.append(ray.get(ref, timeout=10))
            except (RayActorError, ray.exceptions.GetTimeoutError):
                states.append({"label": Redactor.label(index), "state": "down", "calls": 0, "throttled": 0})
        self._ledger.update({
            token: TokenRecord(state["retired"], state["blocked_until"])
            for token, state in zip(self._tokens, states, strict=True)
            if state["state"] != "down"
        })
        return states

    def stop(self) -> None:
        for actor in self._actors:
            ray.kill(actor)
