"""Shared by the tests: what the simulator's world says a complete collection holds, a crash at a unit's
commit, a free port, the demo's settings for tests, and a headless browser."""

from __future__ import annotations

import socket
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from likeability.collect.post_rules import drop_reason
from likeability.config import CollectConfig
from likeability.run import RunFolder, Table
from likeability.simulator.server import SimulatorServer

# The demo on a smaller grid and the first half of its fine-tuning schedule (up to its first checkpoint, the same
# iterations as the demo's): every family and stage, in a fraction of the time.
DEMO_TEST_SETTINGS = [
    "sweeps.linear_svc_c=[1e-4, 1e-3, 1e-2]",
    "sweeps.sgd_alpha=[1e-3, 1e-2]",
    "sweeps.sgd_eta0=[1e-3]",
    "sweeps.forest_trees=50",
    "sweeps.mirrored=[true]",
    "sweeps.folds=3",
    "finetune.iterations=30",
]


def expected(server: SimulatorServer, config: CollectConfig, now: datetime) -> tuple[int, int, int]:
    """Accounts collected, failed, and posts kept, straight from the simulator's world."""
    accounts = [server.world.account_at(i) for i in range(server.world.n_accounts)]
    kept = 0
    for account in accounts:
        if account.business:
            for post in server.world.account_media(account.index, 0, 10_000):
                ts = datetime.fromtimestamp(post.timestamp, UTC)
                kept += drop_reason(ts, post.caption, now, config.min_age_days, config.hashtags) is None
    business = sum(a.business for a in accounts)
    return business, len(accounts) - business, kept


def check_exactly_once(run: RunFolder, server: SimulatorServer, config: CollectConfig) -> None:
    users, posts = run.table("users").read(), run.table("posts").read()
    ok, failed, kept = expected(server, config, datetime.now(UTC))
    assert users.num_rows == ok == len(set(users.column("username").to_pylist()))
    assert run.table("failed_users").num_rows() == failed
    assert posts.num_rows == kept == len(set(posts.column("media_id").to_pylist()))


def die_at_first_commit(monkeypatch: pytest.MonkeyPatch, key_matches: Callable[[str], bool]) -> None:
    """The first `users` part (a unit's commit record) whose key matches fails as if the process died there,
    after the unit's other parts were written; every later write goes through."""
    real_write = Table.write_part
    failed: list[str] = []

    def write_part(table: Table, key: str, data) -> None:
        if table.name == "users" and key_matches(key) and not failed:
            failed.append(key)
            raise OSError("killed")
        real_write(table, key, data)

    monkeypatch.setattr(Table, "write_part", write_part)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def chromium(playwright):
    """Debian's headless Chromium driven by Playwright (which then downloads no browser of its own)."""
    return playwright.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
