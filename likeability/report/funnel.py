"""How many posts survive each curation step, and why the others did not: for `status` and the report."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from likeability.run import RunFolder


@dataclass(frozen=True)
class Step:
    name: str
    count: int
    removed: dict[str, int] = field(default_factory=dict)  # reason -> posts removed at this step


def funnel(run: RunFolder) -> list[Step]:
    """The steps whose stage has written anything, in pipeline order."""
    posts = run.table("posts").num_rows()
    dropped = _reasons(run, "dropped_posts", "reason")
    steps = [Step("collected", posts + sum(dropped.values())), Step("age and hashtag", posts, dropped)]
    if run.table("candidates").parts():
        steps.append(Step("follower filter", run.table("candidates").num_rows(),
                          _reasons(run, "excluded_posts", "reason")))
    if run.table("downloads").parts():
        statuses = _reasons(run, "downloads", "status")
        ok = statuses.pop("ok", 0)
        steps.append(Step("downloaded", ok, statuses))
        verdicts = Counter(run.table("faces").read(["has_face"]).column("has_face").to_pylist())
        steps.append(Step("with a face", verdicts[True], {"no_face": verdicts[False]} if verdicts[False] else {}))
    if run.table("labels").parts():
        labelled = run.table("labels").num_rows()
        unlabelled = steps[-1].count - labelled
        # The labels stage's summary says why; until it has one (its own check runs first), just how many.
        why = (run.done_summary("labels") or {}).get("left_out", {"not_labelled": unlabelled} if unlabelled else {})
        steps.append(Step("labelled", labelled, why))
    return steps


def funnel_lines(steps: list[Step]) -> list[str]:
    lines = []
    for step in steps:
        why = removed_text(step)
        lines.append(f"  {step.name:<16} {step.count:>8}" + (f"   removed: {why}" if why else ""))
    return lines


def removed_text(step: Step) -> str:
    """What a step removed, the largest reason first: "too_young 495, no_hashtag 475"."""
    return ", ".join(f"{reason} {count}" for reason, count in sorted(step.removed.items(), key=lambda i: -i[1]))


def _reasons(run: RunFolder, table: str, column: str) -> dict[str, int]:
    return dict(Counter(run.table(table).read([column]).column(column).to_pylist()))
