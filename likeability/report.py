"""The report stage: one self-contained HTML page in the run folder (`report/index.html`), with its pictures.

What the study showed, for this run: the funnel, label balance, the results table beside the study's published
figures, AP against C per layer, the SGD grid, ROC curves, the confusion matrix, and the 25 test photos the model
likes most and least, each with P(good), likes and followers. Every file the page uses sits beside it; it needs
no server and nothing from the network. Parts whose stage has not run are said to be missing, not faked.
"""

from __future__ import annotations

import html
import io
from dataclasses import dataclass

import numpy as np
import pyarrow.compute as pc
from PIL import Image
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

from likeability import report_plots as plots
from likeability.config import Config
from likeability.funnel import funnel
from likeability.image_decode import decode_rgb
from likeability.image_store import ImageStore
from likeability.run import RunFolder, run_config
from likeability.runtime import Runtime
from likeability.tune.features import LabelledFeatures, load_labelled_features
from likeability.tune.final_models import load_final_model

FOLDER = "report"
SHEET = 25
THUMB = 180
STUDY = "The study (35,000 photos, AlexNet fc7, split by photo): 60% cross-validated accuracy, 57% on its test set."


@dataclass(frozen=True)
class Ranked:
    """The test photos in the order a model ranks them, best first, with what the sheet shows of each."""

    model: str
    score: str  # what the ranking sorts by
    rows: list[dict]  # media_id, sha256, p_good, score, label, like_count, followers_count


def sheet_rows(ranked: list[dict]) -> tuple[list[dict], list[dict]]:
    """The top and bottom of a ranking (best first), SHEET each, or halves of it when it is shorter than two
    sheets, so no photo is on both."""
    shown = min(SHEET, len(ranked) // 2 + len(ranked) % 2)
    return ranked[:shown], ranked[shown:][-SHEET:]


def run_report(config: Config, run: RunFolder, runtime: Runtime) -> dict:
    path = write_report(run, config)
    print(f"report: {path}")
    return {"report": path}


def write_report(run: RunFolder, config: Config | None = None) -> str:
    """Writes `report/` in the run (with the run's own config unless one is given); returns the page's path."""
    config = config or run_config(run)
    page = _Page(run)
    page.funnel()
    page.labels()
    page.results()
    page.curves()
    page.contact_sheets(config)
    page.config_and_timings()
    return page.write()


class _Page:
    def __init__(self, run: RunFolder):
        self.run = run
        self.sections: list[str] = []
        self.assets: dict[str, bytes] = {}
        self.sweeps = run.table("sweep_results").read().to_pylist()
        self.finals = run.table("final_models").read().to_pylist()
        self._test_features: dict[tuple[str, str], LabelledFeatures] = {}

    def test_originals(self, backbone: str, layer: str) -> LabelledFeatures:
        """The test photos' features, read once per layer however many models and sections use them."""
        if (backbone, layer) not in self._test_features:
            features = load_labelled_features(self.run, backbone, [layer]).test_originals()
            self._test_features[backbone, layer] = features
        return self._test_features[backbone, layer]

    def figure(self, name: str, png: bytes, alt: str) -> str:
        self.assets[name] = png
        return f'<img src="{name}" alt="{html.escape(alt)}">'

    def section(self, title: str, body: str) -> None:
        self.sections.append(f"<section><h2>{html.escape(title)}</h2>\n{body}\n</section>")

    def funnel(self) -> None:
        steps = funnel(self.run)
        rows = "".join(
            f"<tr><td>{html.escape(s.name)}</td><td class=n>{s.count:,}</td><td>"
            + html.escape(", ".join(f"{r} {n:,}" for r, n in sorted(s.removed.items(), key=lambda i: -i[1])))
            + "</td></tr>"
            for s in steps
        )
        table = f"<table><tr><th>step</th><th>posts</th><th>removed, and why</th></tr>{rows}</table>"
        self.section("The funnel", self.figure("funnel.png", plots.funnel_chart(steps), "posts per step") + table)

    def labels(self) -> None:
        labels = self.run.table("labels").read(["split", "label", "username"])
        if not labels.num_rows:
            self.section("Labels", "<p class=missing>The labels stage has not run.</p>")
            return
        balance = {}
        for side in ("train", "test"):
            part = labels.filter(pc.equal(labels.column("split"), side))
            good = int(pc.sum(part.column("label")).as_py() or 0)
            balance[side] = (good, part.num_rows - good)
        text = (
            "<p>A photo is good when its likes / followers ratio is above the median of the training photos. "
            f"The split keeps each user on one side ({self.run.table('labels').num_rows():,} photos of "
            f"{len(pc.unique(labels.column('username')))} users); the study split by photo instead, which lets a "
            "model recognise users rather than photos.</p>"
        )
        self.section("Labels", text + self.figure("labels.png", plots.label_balance_chart(balance), "label balance"))

    def results(self) -> None:
        sweeps = self.sweeps
        finals = {(r["family"], r["layer"], r["mirrored"]): r for r in self.finals}
        if not sweeps:
            self.section("Results", "<p class=missing>The sweeps stage has not run.</p>")
            return
        best: dict[tuple, dict] = {}
        for row in sweeps:
            key = (row["family"], row["layer"], row["mirrored"])
            if key not in best or row["mean_ap"] > best[key]["mean_ap"]:
                best[key] = row
        lines = []
        for key in sorted(best):
            row, final = best[key], finals.get(key)
            test = (
                f"<td class=n>{final['test_accuracy']:.3f}</td><td class=n>{final['test_ap']:.3f}</td>"
                f"<td class=n>{final['test_roc_auc']:.3f}</td>" if final else "<td colspan=3>not refitted</td>"
            )
            lines.append(
                f"<tr><td>{key[0]}</td><td>{key[1]}</td><td>{'yes' if key[2] else 'no'}</td>"
                f"<td>{html.escape(row['params'])}</td><td class=n>{row['mean_accuracy']:.3f}</td>"
                f"<td class=n>{row['mean_ap']:.3f}</td>{test}</tr>"
            )
        lines += self.finetuned_line()
        table = (
            "<table><tr><th>model</th><th>layer</th><th>mirrors</th><th>best parameters</th><th>CV accuracy</th>"
            "<th>CV AP</th><th>test accuracy</th><th>test AP</th><th>ROC AUC</th></tr>" + "".join(lines) + "</table>"
        )
        note = (
            "<p>Cross-validation: grouped, stratified folds of the training split; the best parameters of each "
            "model family are refitted on the whole training split and scored once on the test split. The "
            "fine-tuned network chooses its checkpoint on validation users carved out of the training split "
            "and is scored once on the test split.</p>"
            f"<p class=study>{STUDY}</p>"
        )
        self.section("Results", table + note)

    def finetuned_line(self) -> list[str]:
        """The fine-tuned network's row: its chosen checkpoint's validation figures (validation users carved from
        the training split; no cross-validation) beside its one look at the test photos."""
        scores = self.run.table("finetune_scores").read(["label", "p_good"])
        evaluated = [row for row in self.run.table("finetune_metrics").read().to_pylist() if row["val_ap"] is not None]
        if not scores.num_rows or not evaluated:
            return []
        chosen = max(evaluated, key=lambda row: row["val_ap"])  # the first best, as the training loop keeps it
        label, p_good = scores.column("label").to_numpy(), scores.column("p_good").to_numpy()
        accuracy = float(np.mean((p_good >= 0.5) == (label == 1)))
        return [
            f"<tr><td>fine-tuned network</td><td>whole network</td><td>random flips</td>"
            f"<td>checkpoint of iteration {chosen['iteration']}, chosen by validation AP</td>"
            f"<td class=n>{chosen['val_accuracy']:.3f} (validation)</td>"
            f"<td class=n>{chosen['val_ap']:.3f} (validation)</td><td class=n>{accuracy:.3f}</td>"
            f"<td class=n>{average_precision_score(label, p_good):.3f}</td>"
            f"<td class=n>{roc_auc_score(label, p_good):.3f}</td></tr>"
        ]

    def curves(self) -> None:
        sweeps, finals = self.sweeps, self.finals
        if not sweeps or not finals:
            return
        figures = []
        for layer in sorted({r["layer"] for r in sweeps}):
            figures.append(self.figure(f"ap_vs_c_{layer}.png", plots.ap_vs_c_chart(sweeps, layer), f"AP vs C, {layer}"))
            figures.append(self.figure(f"sgd_{layer}.png", plots.sgd_heatmap(sweeps, layer), f"SGD grid, {layer}"))
        curves = {}
        for final in finals:
            model = load_final_model(self.run, final["family"])
            test = self.test_originals(model.backbone, model.layer)
            scores = model.ranking_score(test.layers[model.layer])
            fpr, tpr, _ = roc_curve(test.label, scores)
            curves[f"{model.family} ({model.layer})"] = (fpr, tpr, roc_auc_score(test.label, scores))
        figures.append(self.figure("roc.png", plots.roc_chart(curves), "ROC curves"))
        top = max(finals, key=lambda r: r["test_ap"])
        title = f"{top['family']} on {top['layer']}, test split"
        figures.append(self.figure("confusion.png", plots.confusion_chart(top["confusion"], title), "confusion matrix"))
        self.section("Curves", "<div class=grid>" + "".join(figures) + "</div>")

    def contact_sheets(self, config: Config) -> None:
        ranked = self.ranking()
        if ranked is None:
            self.section("The photos the model likes most and least", "<p class=missing>No model has run yet.</p>")
            return
        top, bottom = sheet_rows(ranked.rows)
        bodies = ImageStore(self.run).get(sorted({r["sha256"] for r in top + bottom}))
        for row in top + bottom:
            self.assets.setdefault(f"photos/{row['sha256']}.jpg", _thumbnail(bodies[row["sha256"]],
                                                                              config.download.max_pixels))

        def sheet(rows: list[dict]) -> str:
            cells = "".join(
                f'<figure><img src="photos/{r["sha256"]}.jpg" alt="photo {html.escape(r["media_id"])}">'
                f"<figcaption>P(good) {r['p_good']:.2f} &middot; score {r['score']:+.3f} &middot; "
                f"{'good' if r['label'] else 'bad'}<br>"
                f"{r['like_count']:,} likes / {r['followers_count']:,} followers</figcaption></figure>"
                for r in rows
            )
            return f"<div class=sheet>{cells}</div>"

        few = (
            f"<p class=note>The test split has only {len(ranked.rows)} photos, fewer than {2 * SHEET}: the sheets "
            f"show its top {len(top)} and bottom {len(bottom)}, each photo once.</p>"
            if len(ranked.rows) < 2 * SHEET else ""
        )
        body = (
            f"<p>Test photos ranked by {html.escape(ranked.model)} (by its score: {html.escape(ranked.score)}); "
            f"the caption gives the true label.</p>{few}"
            f"<h3>Top {len(top)}</h3>{sheet(top)}"
            f"<h3>Bottom {len(bottom)}</h3>{sheet(bottom[::-1])}"
        )
        self.section("The photos the model likes most and least", body)

    def ranking(self) -> Ranked | None:
        """The fine-tuned network's ranking when it has run (as in the study), else the best classic model's."""
        labels = {r["media_id"]: r for r in self.run.table("labels").read().to_pylist()}
        scores = self.run.table("finetune_scores").read().to_pylist()
        if scores:
            model, score = "the fine-tuned network", "P(good)"
            rows = [(r["media_id"], r["p_good"], r["p_good"]) for r in scores]
        elif self.finals:
            final = load_final_model(self.run)
            test = self.test_originals(final.backbone, final.layer)
            features = test.layers[final.layer]
            rows = list(zip(test.media_id.tolist(), final.p_good(features).tolist(),
                            final.ranking_score(features).tolist(), strict=True))
            model = f"{final.family} on {final.backbone} {final.layer} (the best classic model by test AP)"
            score = "the forest's vote share" if final.family == "random_forest" else "the SVM's margin"
        else:
            return None
        rows.sort(key=lambda row: -row[2])
        return Ranked(model, score, [{**labels[m], "p_good": p, "score": v} for m, p, v in rows])

    def config_and_timings(self) -> None:
        timings = "".join(
            f"<tr><td>{html.escape(name)}</td><td class=n>{summary.get('seconds', float('nan')):.1f} s</td></tr>"
            for name, summary in self.run.done_summaries().items()
        )
        config = html.escape(self.run.read_text("config.yaml") or "")
        self.section(
            "Timings and configuration",
            f"<table><tr><th>stage</th><th>time</th></tr>{timings}</table><pre>{config}</pre>",
        )

    def write(self) -> str:
        for name, data in self.assets.items():
            self.run.write_bytes(f"{FOLDER}/{name}", data)
        self.run.write_text(f"{FOLDER}/index.html", _HTML.replace("@BODY@", "\n".join(self.sections)))
        return self.run.path(FOLDER, "index.html")


def _thumbnail(body: bytes, max_pixels: int) -> bytes:
    pixels = decode_rgb(body, max_pixels, fit=THUMB).pixels
    image = Image.fromarray(pixels)
    image.thumbnail((THUMB, THUMB))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


# The inline script only counts images that failed to load, so a browser test can check the page.
_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>likeability report</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
table { border-collapse: collapse; margin: 1em 0; } td, th { border: 1px solid #ccc; padding: 3px 8px; }
td.n { text-align: right; font-variant-numeric: tabular-nums; } .missing { color: #a00; } .note { color: #555; font-style: italic; }
.study { font-style: italic; } .grid { display: flex; flex-wrap: wrap; gap: 1em; }
.sheet { display: grid; grid-template-columns: repeat(5, @THUMB@px); gap: 8px; }
figure { margin: 0; font-size: 12px; } figure img { width: @THUMB@px; height: @THUMB@px; object-fit: cover; }
pre { background: #f6f6f6; padding: 1em; overflow: auto; font-size: 12px; }
</style></head>
<body><h1>likeability: which photos get liked</h1>
@BODY@
<script>
window.addEventListener("load", () => {
  const broken = [...document.images].filter(img => !img.complete || img.naturalWidth === 0).length;
  document.body.dataset.images = document.images.length;
  document.body.dataset.brokenImages = broken;
});
</script>
</body></html>
""".replace("@THUMB@", str(THUMB))
