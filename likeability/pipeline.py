"""The stages in pipeline order, which of them are built, and running them against a run folder."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from likeability.collect.stage import run_collect
from likeability.config import Config
from likeability.curate.follower_filter import run_filter
from likeability.curate.stage import run_curate
from likeability.embed.stage import run_embed
from likeability.finetune.stage import run_finetune
from likeability.learn.labels import run_labels
from likeability.nothing_left import check_something_left
from likeability.report.stage import run_report
from likeability.run import RunFolder
from likeability.runtime import Runtime
from likeability.schemas import BACKBONE_LAYERS, embeddings_table
from likeability.stage_nodes import clock_ms, nodes_since
from likeability.tune.sweeps import run_sweeps


@dataclass(frozen=True)
class Stage:
    name: str
    purpose: str
    tables: tuple[str, ...] = ()
    # None while the stage is not built yet; the pipeline then says so instead of pretending.
    run: Callable[[Config, RunFolder, Runtime], dict] | None = None


STAGES: tuple[Stage, ...] = (
    Stage(
        "collect",
        "Graph API (or an importer) -> users, posts",
        ("users", "posts", "dropped_posts", "failed_users", "import_errors"),
        run_collect,
    ),
    Stage(
        "filter",
        "follower-count outliers (median +/- k MAD) and unusable posts removed",
        ("user_filter", "candidates", "excluded_posts"),
        run_filter,
    ),
    Stage(
        "curate",
        "images fetched, validated and stored by content, faces detected: one Ray Data stream",
        ("downloads", "faces", "images"),
        run_curate,
    ),
    Stage("labels", "likes/followers median split, user-grouped train/test split", ("labels",), run_labels),
    Stage(
        "embed",
        "CNN features of each photo and its mirror, by each of embed.backbones",
        tuple(embeddings_table(name) for name in BACKBONE_LAYERS),
        run_embed,
    ),
    Stage(
        "sweeps",
        "Ray Tune sweeps (LinearSVC C, SGD-SVM, random forest), final models scored on the test split",
        ("sweep_results", "final_models"),
        run_sweeps,
    ),
    Stage(
        "finetune",
        "Ray Train fine-tuning of the CNN with a 2-class head; test photos ranked by it",
        ("finetune_metrics", "finetune_scores"),
        run_finetune,
    ),
    Stage("report", "HTML report with tables, curves and contact sheets", (), run_report),
)


def stage_named(name: str) -> Stage:
    for stage in STAGES:
        if stage.name == name:
            return stage
    raise KeyError(f"no stage {name!r}; stages are {[s.name for s in STAGES]}")


class StageOrderError(RuntimeError):
    """A stage was asked to run before the stages it reads from have finished."""


def check_ready(stage: Stage, run: RunFolder, stages: tuple[Stage, ...] = STAGES) -> None:
    """Every built stage before `stage` must be done, since it reads their tables."""
    for earlier in stages[: stages.index(stage)]:
        state = stage_state(earlier, run)
        if state not in ("done", "not built yet"):
            raise StageOrderError(
                f"stage {stage.name} reads what {earlier.name} writes, and {earlier.name} is {state} in "
                f"{run.location}; run `likeability {earlier.name}` (or `likeability run`) first"
            )


def stage_state(stage: Stage, run: RunFolder) -> str:
    if stage.run is None:
        return "not built yet"
    if run.done_summary(stage.name) is not None:
        return "done"
    if any(run.table(t).parts() for t in stage.tables):
        return "partial"
    return "not started"


def run_stages(
    config: Config,
    run: RunFolder,
    runtime: Runtime,
    stages: tuple[Stage, ...] = STAGES,
    echo: Callable[[str], None] = print,
) -> None:
    """Run every built stage that has not finished, in order; finished stages are skipped, unbuilt ones named."""
    for stage in stages:
        state = stage_state(stage, run)
        if state in ("done", "not built yet"):
            echo(f"{stage.name:<9} {state}")
            continue
        echo(f"{stage.name:<9} running: {stage.purpose}")
        started, started_ms = time.monotonic(), clock_ms()
        summary = stage.run(config, run, runtime)
        check_something_left(stage.name, run)
        summary["seconds"] = round(time.monotonic() - started, 2)
        summary["nodes"] = nodes_since(started_ms)
        run.mark_done(stage.name, summary)
        details = "".join(
            f", {key}={_short(value)}" for key, value in summary.items() if key not in ("seconds", "nodes")
        )
        echo(f"{stage.name:<9} done in {summary['seconds']} s{details}")


def _short(value: object) -> object:
    """Floats to 4 significant digits for the console (the stage's summary file keeps them whole)."""
    return float(f"{value:.4g}") if isinstance(value, float) else value


def status_lines(run: RunFolder, stages: tuple[Stage, ...] = STAGES) -> list[str]:
    lines = [f"run {run.location}"]
    for stage in stages:
        counts = ", ".join(f"{t}={run.table(t).num_rows()}" for t in stage.tables)
        lines.append(f"  {stage.name:<9} {stage_state(stage, run):<14} {counts}".rstrip())
        nodes = (run.done_summary(stage.name) or {}).get("nodes")
        if nodes:
            lines.append(f"  {'':<9} ran on {len(nodes)} node{'s' * (len(nodes) > 1)}: {' '.join(nodes)}")
    return lines
