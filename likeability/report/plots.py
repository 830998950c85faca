"""The report's figures, each drawn with matplotlib from plain data and returned as PNG bytes."""

from __future__ import annotations

import io
import json

import matplotlib

matplotlib.use("Agg")  # no display on servers and in Ray workers

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from likeability.report.funnel import Step  # noqa: E402

GOOD, BAD = "#2a9d8f", "#e76f51"


def _png(figure: plt.Figure) -> bytes:
    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png", dpi=110)
    plt.close(figure)
    return buffer.getvalue()


def text_colour_on(rgba: tuple[float, float, float, float]) -> str:
    """Black on light cells, white on dark ones, by the cell's relative luminance (WCAG's weights)."""
    red, green, blue = rgba[:3]
    return "black" if 0.2126 * red + 0.7152 * green + 0.0722 * blue > 0.45 else "white"


def funnel_chart(steps: list[Step]) -> bytes:
    figure, axes = plt.subplots(figsize=(8, 0.5 + 0.45 * len(steps)))
    names = [s.name for s in steps][::-1]
    counts = [s.count for s in steps][::-1]
    axes.barh(names, counts, color="#457b9d")
    for y, count in enumerate(counts):
        axes.text(count, y, f" {count:,}", va="center")
    axes.set_xlabel("posts")
    axes.set_xlim(0, max(counts) * 1.15 if counts and max(counts) else 1)
    axes.set_title("Posts kept at each step")
    return _png(figure)


def label_balance_chart(balance: dict[str, tuple[int, int]]) -> bytes:
    """`balance`: split name -> (good, bad) photo counts."""
    figure, axes = plt.subplots(figsize=(5, 3))
    splits = list(balance)
    good = [balance[s][0] for s in splits]
    bad = [balance[s][1] for s in splits]
    axes.bar(splits, good, color=GOOD, label="good (1)")
    axes.bar(splits, bad, bottom=good, color=BAD, label="bad (0)")
    axes.set_ylabel("photos")
    axes.legend()
    axes.set_title("Label balance")
    return _png(figure)


def ap_vs_c_chart(rows: list[dict], backbone: str, layer: str) -> bytes:
    """Cross-validated average precision of LinearSVC against C, with and without mirror copies."""
    figure, axes = plt.subplots(figsize=(6, 3.6))
    for mirrored in (False, True):
        points = sorted(
            (json.loads(r["params"])["C"], r["mean_ap"], r["std_ap"])
            for r in rows
            if (r["family"], r["backbone"], r["layer"], r["mirrored"]) == ("linear_svc", backbone, layer, mirrored)
        )
        if points:
            c, ap, std = (np.array(v) for v in zip(*points, strict=True))
            axes.errorbar(c, ap, yerr=std, marker="o", capsize=3, label="with mirrors" if mirrored else "originals")
    axes.set_xscale("log")
    axes.set_xlabel("C")
    axes.set_ylabel("CV average precision")
    axes.set_title(f"LinearSVC on {backbone} {layer}")
    axes.legend()
    return _png(figure)


def sgd_heatmap(rows: list[dict], backbone: str, layer: str) -> bytes:
    """Cross-validated AP of the SGD-SVM over regulariser x step size (the better of with/without mirrors)."""
    best: dict[tuple[float, float], float] = {}
    for r in rows:
        if (r["family"], r["backbone"], r["layer"]) == ("sgd_svm", backbone, layer):
            params = json.loads(r["params"])
            key = (params["alpha"], params["eta0"])
            best[key] = max(best.get(key, -1.0), r["mean_ap"])
    alphas = sorted({a for a, _ in best})
    etas = sorted({e for _, e in best})
    grid = np.array([[best.get((a, e), np.nan) for e in etas] for a in alphas])
    figure, axes = plt.subplots(figsize=(6, 3.6))
    image = axes.imshow(grid, cmap="viridis", aspect="auto")
    axes.set_xticks(range(len(etas)), [f"{e:g}" for e in etas])
    axes.set_yticks(range(len(alphas)), [f"{a:g}" for a in alphas])
    axes.set_xlabel("step size (eta0)")
    axes.set_ylabel("regulariser (alpha)")
    for i in range(len(alphas)):
        for j in range(len(etas)):
            if not np.isnan(grid[i, j]):
                axes.text(j, i, f"{grid[i, j]:.3f}", ha="center", va="center", fontsize=8,
                          color=text_colour_on(image.cmap(image.norm(grid[i, j]))))
    bar = figure.colorbar(image, ax=axes, label="CV average precision")
    bar.formatter.set_useOffset(False)  # nearly equal cells would otherwise read as "1e-5 + 6.765e-1"
    bar.update_ticks()
    axes.set_title(f"SGD-SVM on {backbone} {layer}")
    return _png(figure)


def roc_chart(curves: dict[str, tuple[np.ndarray, np.ndarray, float]]) -> bytes:
    """`curves`: model name -> (false positive rates, true positive rates, area under the curve)."""
    figure, axes = plt.subplots(figsize=(5, 4.4))
    for name, (fpr, tpr, auc) in curves.items():
        axes.plot(fpr, tpr, label=f"{name} (AUC {auc:.3f})")
    axes.plot([0, 1], [0, 1], color="grey", linestyle="--", label="chance")
    axes.set_xlabel("false positive rate")
    axes.set_ylabel("true positive rate")
    axes.set_title("ROC on the test split")
    axes.legend(fontsize=8)
    return _png(figure)


def precision_recall_chart(curves: dict[str, tuple[np.ndarray, np.ndarray, float]], chance: float) -> bytes:
    """`curves`: model name -> (precision, recall, average precision); `chance`: the share of good test photos."""
    figure, axes = plt.subplots(figsize=(5, 4.4))
    for name, (precision, recall, ap) in curves.items():
        axes.step(recall, precision, where="post", label=f"{name} (AP {ap:.3f})")
    axes.axhline(chance, color="grey", linestyle="--", label=f"chance ({chance:.3f})")
    axes.set_xlabel("recall")
    axes.set_ylabel("precision")
    axes.set_ylim(0, 1.02)
    axes.set_title("Precision-recall on the test split")
    axes.legend(fontsize=8)
    return _png(figure)


def finetune_chart(metrics: list[dict]) -> bytes:
    """Training loss at each logged iteration, and validation AP and accuracy at each evaluation."""
    figure, loss_axes = plt.subplots(figsize=(6, 3.6))
    logged = [m for m in metrics if m["loss"] is not None]
    loss_axes.plot([m["iteration"] for m in logged], [m["loss"] for m in logged], color="#457b9d",
                   label="training loss")
    loss_axes.set_xlabel("iteration")
    loss_axes.set_ylabel("training loss")
    validation_axes = loss_axes.twinx()
    evaluated = [m for m in metrics if m["val_ap"] is not None]
    for key, label, colour in (("val_ap", "validation AP", GOOD), ("val_accuracy", "validation accuracy", BAD)):
        validation_axes.plot([m["iteration"] for m in evaluated], [m[key] for m in evaluated], marker="o",
                             color=colour, label=label)
    validation_axes.set_ylabel("validation figure")
    lines = loss_axes.get_legend_handles_labels()
    more = validation_axes.get_legend_handles_labels()
    loss_axes.legend(lines[0] + more[0], lines[1] + more[1], fontsize=8, loc="best")
    loss_axes.set_title("Fine-tuning")
    return _png(figure)


def confusion_chart(confusion: list[int], title: str) -> bytes:
    """`confusion`: tn, fp, fn, tp."""
    tn, fp, fn, tp = confusion
    grid = np.array([[tn, fp], [fn, tp]])
    figure, axes = plt.subplots(figsize=(3.8, 3.4))
    image = axes.imshow(grid, cmap="Blues")
    axes.set_xticks([0, 1], ["bad", "good"])
    axes.set_yticks([0, 1], ["bad", "good"])
    axes.set_xlabel("predicted label")
    axes.set_ylabel("true label")
    for i in range(2):
        for j in range(2):
            axes.text(j, i, str(grid[i, j]), ha="center", va="center", fontsize=14,
                      color=text_colour_on(image.cmap(image.norm(grid[i, j]))))
    axes.set_title(title, fontsize=10)
    return _png(figure)


def attribute_effects_chart(effects: list[dict]) -> bytes:
    """Each attribute's rank correlation with the model's score and with the true label, with 95% intervals;
    `effects` in the order to draw them, top first."""
    names = [e["attribute"] for e in effects][::-1]
    figure, panels = plt.subplots(1, 2, figsize=(9, 0.6 + 0.32 * len(names)), sharey=True)
    for axes, target, title in ((panels[0], "with_score", "with the model's score"),
                                (panels[1], "with_label", "with the true label")):
        values = np.array([e[target] for e in effects][::-1], dtype=float)
        low = values - np.array([e[f"{target}_low"] for e in effects][::-1], dtype=float)
        high = np.array([e[f"{target}_high"] for e in effects][::-1], dtype=float) - values
        axes.barh(names, np.nan_to_num(values), xerr=np.nan_to_num([low, high]),
                  color=[GOOD if v > 0 else BAD for v in np.nan_to_num(values)], capsize=2)
        axes.axvline(0, color="#555", linewidth=0.8)
        axes.set_xlim(-1, 1)
        axes.set_xticks([-1, -0.5, 0, 0.5, 1])
        axes.set_xlabel("Spearman correlation (95% interval over users)")
        axes.set_title(title, fontsize=10)
    return _png(figure)


def photo_map_chart(points: np.ndarray, scores: np.ndarray, thumbnails: dict[int, np.ndarray]) -> bytes:
    """The test photos on their t-SNE map (`points`, n x 2), coloured by the model's score; `thumbnails` (row ->
    small RGB image) are drawn at their photo's place, framed in its score's colour."""
    from matplotlib.offsetbox import AnnotationBbox, OffsetImage

    figure, axes = plt.subplots(figsize=(10, 8))
    colours = plt.get_cmap("RdYlGn")
    norm = plt.Normalize(float(np.min(scores)), float(np.max(scores)))
    dots = axes.scatter(points[:, 0], points[:, 1], c=scores, cmap=colours, norm=norm, s=12)
    for row, image in thumbnails.items():
        box = AnnotationBbox(OffsetImage(image, zoom=1.0), points[row], frameon=True, pad=0.15,
                             bboxprops={"edgecolor": colours(norm(scores[row])), "linewidth": 2})
        axes.add_artist(box)
    figure.colorbar(dots, ax=axes, label="the model's score (higher: more likely good)")
    axes.set_xticks([])
    axes.set_yticks([])
    axes.set_title("Test photos laid out by the model's features (t-SNE)")
    return _png(figure)
