from datetime import UTC, datetime

import pytest

from likeability.config import Config, ConfigError, load
from likeability.pipeline import (
    STAGES,
    Stage,
    StageOrderError,
    check_config_unchanged,
    check_ready,
    forget_from,
    run_stages,
    stage_named,
    stage_state,
    status_lines,
)
from likeability.run import RunFolder
from likeability.runtime import Runtime

NOW = datetime(2026, 11, 29, tzinfo=UTC)
RUNTIME = Runtime("http://127.0.0.1:9", lambda: [])


class CountingStage:
    """A real stage body: commits one part per unit of work, skipping units a previous attempt committed.
    Its stages are named apart from the real ones, whose data the pipeline checks (test_nothing_left.py)."""

    def __init__(self, units: list[str], fail_after: int | None = None):
        self.units = units
        self.fail_after = fail_after
        self.written: list[str] = []

    def __call__(self, config: Config, run: RunFolder, runtime: Runtime) -> dict:
        users = run.table("users")
        for unit in sorted(set(self.units) - users.parts()):
            if self.fail_after is not None and len(self.written) == self.fail_after:
                raise RuntimeError("killed mid-stage")
            users.write_part(unit, [dict(username=unit, ig_id=unit, followers_count=1, media_count=0, fetched_at=NOW)])
            self.written.append(unit)
        return {"users": users.num_rows()}


def test_stages_are_in_pipeline_order():
    assert [s.name for s in STAGES] == [
        "collect",
        "filter",
        "curate",
        "labels",
        "embed",
        "sweeps",
        "finetune",
        "explain",
        "report",
    ]
    assert stage_named("embed").name == "embed"
    with pytest.raises(KeyError, match="no stage 'train'"):
        stage_named("train")


def test_finished_stage_is_not_run_again(tmp_path):
    run = RunFolder(str(tmp_path))
    body = CountingStage(["a", "b"])
    stages = (Stage("gather", "test", ("users",), body),)
    said: list[str] = []
    run_stages(Config(), run, RUNTIME, stages, said.append)
    run_stages(Config(), run, RUNTIME, stages, said.append)
    assert body.written == ["a", "b"]
    assert said[-1] == "gather    done"
    assert run.done_summary("gather")["users"] == 2


def test_interrupted_stage_resumes_without_redoing_committed_units(tmp_path):
    run = RunFolder(str(tmp_path))
    crashing = (Stage("gather", "test", ("users",), CountingStage(["a", "b", "c"], fail_after=2)),)
    with pytest.raises(RuntimeError):
        run_stages(Config(), run, RUNTIME, crashing, lambda _: None)
    assert stage_state(crashing[0], run) == "partial"
    resumed = CountingStage(["a", "b", "c"])
    run_stages(Config(), run, RUNTIME, (Stage("gather", "test", ("users",), resumed),), lambda _: None)
    assert resumed.written == ["c"]
    assert run.table("users").num_rows() == 3


def test_unbuilt_stages_are_named_not_faked(tmp_path):
    run = RunFolder(str(tmp_path))
    said: list[str] = []
    run_stages(Config(), run, RUNTIME, (Stage("report", "not yet"),), said.append)
    assert said == ["report    not built yet"]
    assert run.done_summary("report") is None


def test_status_lists_every_stage_with_row_counts(tmp_path):
    run = RunFolder(str(tmp_path))
    stages = (Stage("gather", "test", ("users", "posts"), CountingStage(["a"])), Stage("report", "not yet"))
    assert status_lines(run, stages)[1:] == [
        "  gather    not started    users=0, posts=0",
        "  report    not built yet",
    ]
    run_stages(Config(), run, RUNTIME, stages, lambda _: None)
    assert status_lines(run, stages)[1] == "  gather    done           users=1, posts=0"


def test_a_stage_runs_only_after_the_built_stages_before_it(tmp_path):
    run = RunFolder(str(tmp_path))
    stages = (
        Stage("gather", "test", ("users",), CountingStage(["a"])),
        Stage("filter", "not built"),
        Stage("labels", "test", ("posts",), CountingStage([])),
    )
    check_ready(stages[0], run, stages)
    with pytest.raises(StageOrderError, match="stage labels reads what gather writes, and gather is not started"):
        check_ready(stages[2], run, stages)
    run_stages(Config(), run, RUNTIME, stages[:1], lambda _: None)
    check_ready(stages[2], run, stages)  # the unbuilt stage between them does not block it


def test_a_rerun_forgets_that_stage_and_every_later_one_and_keeps_the_earlier(tmp_path):
    run = RunFolder(str(tmp_path))
    gather, count = CountingStage(["a", "b"]), CountingStage([])
    stages = (
        Stage("gather", "test", ("users",), gather),
        Stage("count", "test", ("posts",), count, folders=("counted",)),
    )
    run_stages(Config(), run, RUNTIME, stages, lambda _: None)
    run.write_text("counted/result.txt", "2")
    assert forget_from("count", run, stages) == ["count"]
    assert stage_state(stages[0], run) == "done" and stage_state(stages[1], run) == "not started"
    assert run.read_text("counted/result.txt") is None and run.table("users").num_rows() == 2
    assert forget_from("gather", run, stages) == ["gather", "count"]
    assert run.table("users").num_rows() == 0 and run.done_summary("gather") is None
    run_stages(Config(), run, RUNTIME, stages, lambda _: None)
    assert gather.written == ["a", "b", "a", "b"]  # made again from nothing


def test_a_config_that_changes_what_a_finished_stage_read_is_refused(tmp_path):
    run = RunFolder(str(tmp_path))
    stages = (Stage("gather", "test", ("users",), CountingStage(["a"]), reads=("labels",)),)
    run_stages(Config(), run, RUNTIME, stages, lambda _: None)
    assert run.done_summary("gather")["provenance"]["config"]["labels"]["seed"] == 0
    check_config_unchanged(load(None, ["faces.score_threshold=0.5"]), run, stages)  # not read by gather
    with pytest.raises(ConfigError, match=r"stage gather already ran in this run with labels.seed=0 \(now 4\)"):
        check_config_unchanged(load(None, ["labels.seed=4"]), run, stages)
