"""A stage that leaves nothing for the next one stops the run, saying which step removed the rows, how many,
and what to change; otherwise a later stage would only find its input empty and blame the wrong stage."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow.compute as pc

from likeability.report.funnel import Step, funnel, removed_text
from likeability.run import RunFolder


class NothingLeftError(RuntimeError):
    """A stage finished with no rows for the stages after it."""


@dataclass(frozen=True)
class Gate:
    stage: str  # the stage whose step this is
    kept: str  # how the step's survivors are counted: "572 downloaded"
    failure: str  # what it means when nothing survives
    hint: str


GATES = {
    "collected": Gate("collect", "collected", "no post was collected",
                      "check collect.usernames and the access tokens; the failed_users table says why accounts failed"),
    "age and hashtag": Gate("collect", "old enough and with the hashtags", "no post is old enough and has the hashtags",
                            "lower collect.min_age_days or change collect.hashtags"),
    "follower filter": Gate("filter", "past the follower filter", "no post passed the follower filter",
                            "widen the [filter] bounds; RUN/_stages/filter.json has the thresholds it used"),
    "downloaded": Gate("curate", "downloaded", "no photo could be downloaded",
                       "check download.allowed_hosts and that the photo URLs answer; the downloads table has each "
                       "status"),
    "with a face": Gate("curate", "with a face", "no photo passed the face filter",
                        "lower faces.score_threshold or faces.min_face_fraction and curate again in a new run folder, "
                        "or check the images"),
    "labelled": Gate("labels", "labelled", "no photo was labelled", "lower labels.drop_middle"),
}


def check_something_left(stage: str, run: RunFolder) -> None:
    """Raise NothingLeftError when a step of `stage` kept no rows (or labels left a split empty)."""
    steps = funnel(run)
    for before, step in zip([None, *steps], steps, strict=False):  # each step with the one before it
        gate = GATES.get(step.name)
        if gate is not None and gate.stage == stage and step.count == 0:
            raise NothingLeftError(f"{stage}: {gate.failure} ({_of(before, step, run)}): {_hint(gate, before, run)}")
    if stage == "labels":
        _check_both_splits(run)


def _of(before: Step | None, step: Step, run: RunFolder) -> str:
    if before is None:
        accounts = run.table("users").num_rows()
        return f"{accounts} accounts answered, {run.table('failed_users').num_rows()} failed"
    removed = removed_text(step)
    return f"0 of {before.count} {GATES[before.name].kept}" + (f"; removed: {removed}" if removed else "")


def _hint(gate: Gate, before: Step | None, run: RunFolder) -> str:
    """For an import that kept nothing, the first row it could not read says more than the usual hint."""
    errors = run.table("import_errors").read() if before is None else None
    if errors is None or not errors.num_rows:
        return gate.hint
    first = errors.slice(0, 1).to_pylist()[0]
    return (f"{errors.num_rows} rows could not be imported, the first {first['path']}: {first['reason']}; the "
            "import_errors table lists them all")


def _check_both_splits(run: RunFolder) -> None:
    splits = run.table("labels").read(["split", "username"])
    for side in ("train", "test"):
        if not pc.any(pc.equal(splits.column("split"), side)).as_py():
            users = len(pc.unique(splits.column("username")))
            raise NothingLeftError(
                f"labels: the {side} split has no photo ({splits.num_rows} labelled photos, "
                f"{users} user{'s' if users > 1 else ''}): "
                "collect more accounts, or set labels.split = \"photo\" to split one user's photos"
            )
