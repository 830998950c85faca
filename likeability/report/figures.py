"""A run's test figures with their 95% intervals, as the report's table and `likeability status` show them."""

from __future__ import annotations

from dataclasses import dataclass

from likeability.run import RunFolder

FIGURES = (("accuracy", "accuracy"), ("ap", "AP"), ("roc_auc", "ROC AUC"))


def with_interval(row: dict, figure: str) -> str:
    """'0.612 [0.55, 0.67]': a test figure and its 95% interval over test users."""
    return f"{row[f'test_{figure}']:.3f} [{row[f'test_{figure}_low']:.2f}, {row[f'test_{figure}_high']:.2f}]"


def beats_chance(row: dict) -> bool:
    """Whether the AP interval lies wholly above the chance level."""
    return row["test_ap_low"] > row["chance_ap"]


def scored_models(run: RunFolder) -> list[tuple[str, dict]]:
    """(name, figures) of every model scored on the test split: the final classic models, then the fine-tuned
    network (from its stage summary), each with its intervals and chance level."""
    finals = run.table("final_models").read().to_pylist()
    models = [(f"{row['family']} ({row['backbone']} {row['layer']})", row) for row in finals]
    finetuned = run.done_summary("finetune")
    if finetuned and "test_ap_low" in finetuned:
        models.append((f"fine-tuned {finetuned['backbone']}", finetuned))
    return models


@dataclass(frozen=True)
class PageModel:
    """The one model the report shows in detail (its confusion matrix, its ranking of the test photos)."""

    name: str
    validation_ap: float
    measured_by: str  # what validation_ap is
    row: dict  # its test figures: a final_models row, or the fine-tuning summary
    finetuned: bool


def page_model(run: RunFolder) -> PageModel | None:
    """The best model by its validation figure, never by test: each classic model's cross-validated AP, the
    fine-tuned network's validation AP at the checkpoint it kept."""
    candidates = [
        PageModel(f"{r['family']} on {r['backbone']} {r['layer']}", r["cv_ap"], "cross-validated AP", r, False)
        for r in run.table("final_models").read().to_pylist()
    ]
    finetuned = run.done_summary("finetune")
    if finetuned and "test_ap_low" in finetuned:
        candidates.append(PageModel(f"the fine-tuned {finetuned['backbone']}", finetuned["best_val_ap"],
                                    "validation AP of its kept checkpoint", finetuned, True))
    return max(candidates, key=lambda c: c.validation_ap) if candidates else None


def figure_lines(run: RunFolder) -> list[str]:
    lines = []
    for name, row in scored_models(run):
        figures = ", ".join(f"{label} {with_interval(row, figure)}" for figure, label in FIGURES)
        verdict = "above chance" if beats_chance(row) else "not above chance"
        lines.append(f"  {name:<32} {figures}; AP chance {row['chance_ap']:.3f}: {verdict}")
    return ["test figures (95% intervals over test users):", *lines] if lines else []
