"""The stages in pipeline order, which of them are built, and running them against a run folder."""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from dataclasses import dataclass

from likeability import provenance
from likeability.config import Config
from likeability.nothing_left import check_something_left
from likeability.run import RunFolder
from likeability.runtime import Runtime
from likeability.schemas import BACKBONE_LAYERS, embeddings_table
from likeability.stage_nodes import clock_ms, nodes_since

StageFunction = Callable[[Config, RunFolder, Runtime], dict]


@dataclass(frozen=True)
class Stage:
    name: str
    purpose: str
    tables: tuple[str, ...] = ()
    # The stage function, or "module:function" imported when the stage runs (so that `status` and `--help` do
    # not load torch, Tune and Train); None while the stage is not built yet, which the pipeline then says.
    run: StageFunction | str | None = None
    # The config sections ("faces") and single keys ("download.max_pixels") its results depend on.
    reads: tuple[str, ...] = ()
    # Files it writes besides its tables (models, checkpoints, the page), thrown away when it is rerun.
    folders: tuple[str, ...] = ()
    # What this run's config makes of it, for the line that says the stage is running ("mobilenet_v2: pool").
    detail: Callable[[Config], str] | None = None

    def function(self) -> StageFunction:
        if isinstance(self.run, str):
            module, _, name = self.run.partition(":")
            return getattr(importlib.import_module(module), name)
        return self.run


STAGES: tuple[Stage, ...] = (
    Stage(
        "collect",
        "Graph API (or an importer) -> users, posts",
        ("users", "posts", "dropped_posts", "failed_users", "import_errors"),
        "likeability.collect.stage:run_collect",
        reads=("simulator", "collect"),
    ),
    Stage(
        "filter",
        "follower-count outliers (median +/- k MAD) and unusable posts removed",
        ("user_filter", "candidates", "excluded_posts"),
        "likeability.curate.follower_filter:run_filter",
        reads=("filter",),
    ),
    Stage(
        "curate",
        "images fetched, validated and stored by content, faces detected: one Ray Data stream",
        ("downloads", "faces", "images"),
        "likeability.curate.stage:run_curate",
        reads=("download", "faces"),
    ),
    Stage(
        "labels",
        "likes/followers median split, user-grouped train/test split",
        ("labels",),
        "likeability.learn.labels:run_labels",
        reads=("labels",),
    ),
    Stage(
        "embed",
        "CNN features of each photo and its mirror, by each of embed.backbones",
        tuple(embeddings_table(name) for name in BACKBONE_LAYERS),
        "likeability.embed.stage:run_embed",
        reads=("embed", "download.max_pixels"),
        detail=lambda config: "; ".join(f"{b}: {', '.join(BACKBONE_LAYERS[b])}" for b in config.embed.backbones),
    ),
    Stage(
        "sweeps",
        "Ray Tune sweeps (LinearSVC C, SGD-SVM, random forest), final models scored on the test split",
        ("sweep_results", "final_models"),
        "likeability.tune.sweeps:run_sweeps",
        reads=("sweeps",),
        folders=("sweeps", "models"),
    ),
    Stage(
        "finetune",
        "Ray Train fine-tuning of the CNN with a 2-class head; test photos ranked by it",
        ("finetune_metrics", "finetune_scores"),
        "likeability.finetune.stage:run_finetune",
        detail=lambda config: f"{config.finetune.backbone}, {config.finetune.iterations} iterations",
        reads=("finetune", "download.max_pixels"),
        folders=("finetune",),
    ),
    Stage(
        "explain",
        "what the model likes: test photos' attributes against its score and the label, a map of the photos",
        ("photo_attributes", "attribute_effects"),
        "likeability.explain.stage:run_explain",
        reads=("explain", "download.max_pixels"),
    ),
    Stage(
        "report",
        "HTML report with tables, curves and contact sheets",
        (),
        "likeability.report.stage:run_report",
        folders=("report",),
    ),
)


def stage_named(name: str, stages: tuple[Stage, ...] = STAGES) -> Stage:
    for stage in stages:
        if stage.name == name:
            return stage
    raise KeyError(f"no stage {name!r}; stages are {[s.name for s in stages]}")


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


def check_config_unchanged(config: Config, run: RunFolder, stages: tuple[Stage, ...] = STAGES) -> None:
    """Refuses a config that changes what a finished stage read (see likeability.provenance)."""
    provenance.refuse_changes({s.name: run.done_summary(s.name) for s in stages if stage_state(s, run) == "done"},
                              config)


def forget_from(name: str, run: RunFolder, stages: tuple[Stage, ...] = STAGES) -> list[str]:
    """Throws away what stage `name` and every stage after it made (tables, files, markers), so they run again;
    what came before stays, and so do the token ledger and the run's config. Returns the stages forgotten."""
    forgotten = stages[stages.index(stage_named(name, stages)):]
    for stage in forgotten:
        run.forget(stage.name, stage.tables, stage.folders)
    return [stage.name for stage in forgotten]


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
        detail = f" ({stage.detail(config)})" if stage.detail else ""
        echo(f"{stage.name:<9} running: {stage.purpose}{detail}")
        started, started_ms = time.monotonic(), clock_ms()
        summary = stage.function()(config, run, runtime)
        check_something_left(stage.name, run)
        summary["seconds"] = round(time.monotonic() - started, 2)
        summary["nodes"] = nodes_since(started_ms)
        summary["provenance"] = provenance.record(config, stage.reads)
        run.mark_done(stage.name, summary)
        details = "".join(
            f", {key}={_short(value)}" for key, value in summary.items()
            if key not in ("seconds", "nodes", "provenance")
        )
        echo(f"{stage.name:<9} done in {summary['seconds']} s{details}")


def _short(value: object) -> object:
    """Floats to 4 significant digits for the console (the stage's summary file keeps them whole)."""
    return float(f"{value:.4g}") if isinstance(value, float) else value


def status_lines(run: RunFolder, stages: tuple[Stage, ...] = STAGES) -> list[str]:
    """Each stage's state and row counts; on a run that used several Ray nodes, the nodes of each stage too."""
    nodes = {s.name: (run.done_summary(s.name) or {}).get("nodes", []) for s in stages}
    several = len({node for used in nodes.values() for node in used}) > 1
    lines = [f"run {run.location}"]
    for stage in stages:
        counts = ", ".join(f"{t}={run.table(t).num_rows()}" for t in stage.tables)
        lines.append(f"  {stage.name:<9} {stage_state(stage, run):<14} {counts}".rstrip())
        if several and nodes[stage.name]:
            used = nodes[stage.name]
            lines.append(f"  {'':<9} ran on {len(used)} node{'s' * (len(used) > 1)}: {' '.join(used)}")
    return lines
