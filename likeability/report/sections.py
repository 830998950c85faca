"""The report's sections, in page order: each reads what it shows from the run and adds itself to the page."""

from __future__ import annotations

import html
import json

import numpy as np
import pyarrow.compute as pc
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score, roc_curve

from likeability import provenance
from likeability.config import Config, differing_keys, dump_yaml
from likeability.embed.photo_features import DECODE_FIT
from likeability.explain.attributes import ATTRIBUTES
from likeability.explain.saliency import SaliencyMaps
from likeability.images.decode import decode_rgb
from likeability.images.store import ImageStore
from likeability.report import plots
from likeability.report.figures import PageModel, beats_chance, page_model, scored_models, with_interval
from likeability.report.funnel import funnel as funnel_steps
from likeability.report.page import Page, inline
from likeability.report.ranking import SHEET, ranking, sheet_rows, thumbnail, thumbnail_image
from likeability.report.results import RunResults
from likeability.run import RunFolder
from likeability.simulator.bayes import bayes_rule
from likeability.simulator.world import World
from likeability.tune.final_models import load_final_model

STUDY = "The study (35,000 photos, AlexNet fc7, split by photo): 60% cross-validated accuracy, 57% on its test set."
PHOTOS = "The photos the model likes most and least"
LIKES = "What the model likes"
MAP_THUMB = 40


def funnel(page: Page, run: RunFolder) -> None:
    steps = funnel_steps(run)
    rows = "".join(
        f"<tr><td>{html.escape(s.name)}</td><td class=n>{s.count:,}</td><td>"
        + html.escape(", ".join(f"{r} {n:,}" for r, n in sorted(s.removed.items(), key=lambda i: -i[1])))
        + "</td></tr>"
        for s in steps
    )
    table = f"<table><tr><th>step</th><th>posts</th><th>removed, and why</th></tr>{rows}</table>"
    page.section("The funnel", page.figure(plots.funnel_chart(steps), "posts per step") + table)


def labels(page: Page, run: RunFolder) -> None:
    labelled = run.table("labels").read(["split", "label", "username"])
    if not labelled.num_rows:
        page.section("Labels", "<p class=missing>The labels stage has not run.</p>")
        return
    balance = {}
    for side in ("train", "test"):
        part = labelled.filter(pc.equal(labelled.column("split"), side))
        good = int(pc.sum(part.column("label")).as_py() or 0)
        balance[side] = (good, part.num_rows - good)
    text = (
        "<p>A photo is good when its likes / followers ratio is above the median of the training photos. "
        f"The split keeps each user on one side ({labelled.num_rows:,} photos of "
        f"{len(pc.unique(labelled.column('username')))} users); the study split by photo instead, which lets a "
        "model recognise users rather than photos.</p>"
    )
    page.section("Labels", text + page.figure(plots.label_balance_chart(balance), "label balance"))


def results(page: Page, run_results: RunResults) -> None:
    sweeps = run_results.sweeps
    finals = {(r["family"], r["backbone"], r["layer"], r["mirrored"]): r for r in run_results.finals}
    if not sweeps:
        page.section("Results", "<p class=missing>The sweeps stage has not run.</p>")
        return
    best: dict[tuple, dict] = {}
    for row in sweeps:
        key = (row["family"], row["backbone"], row["layer"], row["mirrored"])
        if key not in best or row["mean_ap"] > best[key]["mean_ap"]:
            best[key] = row
    lines = [_classic_row(key, best[key], finals.get(key)) for key in sorted(best)]
    lines += _finetuned_row(run_results.run)
    table = (
        "<table><tr><th>model</th><th>backbone</th><th>layer</th><th>mirrors</th><th>best parameters</th>"
        "<th>CV accuracy</th><th>CV AP</th><th>test accuracy</th><th>test AP</th><th>AP by chance</th><th>ROC AUC</th></tr>"
        + "".join(lines) + "</table>"
    )
    note = (
        "<p>Cross-validation: grouped, stratified folds of the training split; the best parameters of each "
        "model family are refitted on the whole training split and scored once on the test split. The "
        "fine-tuned network chooses its checkpoint on validation users carved out of the training split "
        "and is scored once on the test split. Brackets hold 95% intervals from a bootstrap over test users "
        "(a user's photos are not independent of each other); a model beats chance when its AP interval lies "
        "above the share of good test photos (marked &#10003;).</p>"
        f"<p class=study>{STUDY}</p>"
    )
    page.section("Results", _chosen(page_model(run_results.run)) + table + note)


def _chosen(chosen: PageModel | None) -> str:
    if chosen is None:
        return ""
    return (
        f"<p class=chosen>The model this page shows in detail (its confusion matrix and its ranking of the test "
        f"photos) is <b>{html.escape(chosen.name)}</b>: the best by {chosen.measured_by} "
        f"({chosen.validation_ap:.3f}), chosen before looking at the test split.</p>"
    )


def _test_cells(row: dict) -> str:
    mark = " &#10003;" if beats_chance(row) else ""
    return (
        f"<td class=n>{with_interval(row, 'accuracy')}</td><td class=n>{with_interval(row, 'ap')}{mark}</td>"
        f"<td class=n>{row['chance_ap']:.3f}</td><td class=n>{with_interval(row, 'roc_auc')}</td>"
    )


def _classic_row(key: tuple, best: dict, final: dict | None) -> str:
    test = _test_cells(final) if final else "<td colspan=4>not refitted</td>"
    return (
        f"<tr><td>{key[0]}</td><td>{key[1]}</td><td>{key[2]}</td><td>{'yes' if key[3] else 'no'}</td>"
        f"<td>{html.escape(readable_params(best['params']))}</td><td class=n>{best['mean_accuracy']:.3f}</td>"
        f"<td class=n>{best['mean_ap']:.3f}</td>{test}</tr>"
    )


def readable_params(params: str) -> str:
    """A trial's parameters (JSON) as a person writes them: `C = 1e-4, n_estimators = 500`."""
    return ", ".join(f"{key} = {_number(value)}" for key, value in json.loads(params).items())


def _number(value: object) -> str:
    if isinstance(value, float) and value and not 1e-2 <= abs(value) < 1e3:
        mantissa, exponent = f"{value:.0e}".split("e")
        return f"{mantissa}e{int(exponent)}"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _finetuned_row(run: RunFolder) -> list[str]:
    """The fine-tuned network's row: its chosen checkpoint's validation figures (validation users carved from
    the training split; no cross-validation) beside its one look at the test photos."""
    summary = run.done_summary("finetune")
    evaluated = [row for row in run.table("finetune_metrics").read().to_pylist() if row["val_ap"] is not None]
    if not summary or "test_ap_low" not in summary or not evaluated:
        return []
    chosen = max(evaluated, key=lambda row: row["val_ap"])  # the first best, as the training loop keeps it
    return [
        f"<tr><td>fine-tuned network</td><td>{summary['backbone']}</td><td>whole network</td><td>random flips</td>"
        f"<td>checkpoint of iteration {chosen['iteration']}, chosen by validation AP</td>"
        f"<td class=n>{chosen['val_accuracy']:.3f} (validation)</td>"
        f"<td class=n>{chosen['val_ap']:.3f} (validation)</td>{_test_cells(summary)}</tr>"
    ]


def planted_world(page: Page, run: RunFolder, config: Config) -> None:
    """For a run on the bundled simulator: the best accuracy any model of the photos can reach on this test
    split, beside the best this run reached."""
    labels = run.table("labels").read(["media_id", "label", "split"])
    if not config.simulator.enabled or not labels.num_rows:
        return
    rule = bayes_rule(World(config.simulator, now=0), labels)
    models = scored_models(run)
    best = max((row["test_accuracy"], name) for name, row in models) if models else None
    kinds = ", ".join(f"{kind} {p:.2f}" for kind, p in sorted(rule.p_good.items()))
    text = (
        "<p>The simulator plants its signal in what a photo shows (its kind); each account's effect and the "
        "noise on likes are invisible in the picture, so they cap what any model can reach. The Bayes rule "
        f"calls good the kinds whose labelled photos are mostly good ({', '.join(rule.good_kinds) or 'none'}; "
        f"P(good | kind): {kinds}). Its expected accuracy on this run's test photos, the Bayes accuracy, is "
        f"<b>{rule.accuracy:.3f}</b>; on this particular split it was right on {rule.realised:.3f}.</p>"
    )
    if best is not None:
        text += f"<p>The best model here, {html.escape(best[1])}, is right on {best[0]:.3f}.</p>"
    page.section("What the planted world allows", text)


def what_the_model_likes(page: Page, run: RunFolder, config: Config) -> None:
    """The explain stage's findings: attributes ranked by how strongly they go with the model's score, with the
    label beside them, and the map of the test photos."""
    effects = run.table("attribute_effects").read().to_pylist()
    photos = run.table("photo_attributes").read(["sha256", "score", "map_x", "map_y"])
    if not effects or not photos.num_rows:
        page.section(LIKES, "<p class=missing>The explain stage has not run.</p>")
        return
    explained = (run.done_summary("explain") or {}).get("model", "the best classic model")
    effects.sort(key=lambda e: -abs(np.nan_to_num(e["with_score"])))
    rows = "".join(
        f"<tr><td>{html.escape(e['attribute'])}</td><td class=note>{html.escape(ATTRIBUTES[e['attribute']])}</td>"
        f"<td class=n>{_correlation(e, 'with_score')}</td><td class=n>{_correlation(e, 'with_label')}</td></tr>"
        for e in effects
    )
    text = (
        f"<p>What {html.escape(explained)} (the best classic model by cross-validated AP) goes with, on the "
        f"{photos.num_rows} test photos: each attribute's rank correlation (Spearman) with the model's score and "
        "with the true label, with 95% intervals from resampling the test users (a user's photos move "
        "together). The attributes are simple rules on colours, edges and the detector's face boxes, stated "
        "beside each; a correlation with the score says what the model responds to, one with the label what "
        "the likes respond to. The tool infers no gender, age or ethnicity: nothing here looks at who is in a "
        "photo.</p>"
        "<table><tr><th>attribute</th><th>rule</th><th>with the model's score</th><th>with the label</th></tr>"
        f"{rows}</table>"
    )
    chart = page.figure(plots.attribute_effects_chart(effects), "attribute correlations")
    page.section(LIKES, text + chart + _photo_map(page, run, photos, config))


def _correlation(effect: dict, target: str) -> str:
    if np.isnan(effect[target]):
        return "does not vary"
    return f"{effect[target]:+.2f} [{effect[f'{target}_low']:+.2f}, {effect[f'{target}_high']:+.2f}]"


def _photo_map(page: Page, run: RunFolder, photos, config: Config) -> str:
    points = np.column_stack([photos.column("map_x").to_numpy(), photos.column("map_y").to_numpy()])
    scores = photos.column("score").to_numpy()
    rng = np.random.default_rng(config.explain.seed)
    shown = np.sort(rng.permutation(photos.num_rows)[: config.explain.map_thumbnails])
    digests = photos.column("sha256").to_pylist()
    bodies = ImageStore(run).get(sorted({digests[i] for i in shown}))
    thumbnails = {int(i): np.asarray(thumbnail_image(bodies[digests[i]], config.download.max_pixels, MAP_THUMB))
                  for i in shown}
    caption = (f"<p>{len(shown)} of the {photos.num_rows} test photos as thumbnails, the rest as dots; photos "
               "the model's features see alike lie close. Colour: the model's score.</p>")
    return caption + page.figure(plots.photo_map_chart(points, scores, thumbnails), "map of the test photos")


def curves(page: Page, run_results: RunResults) -> None:
    sweeps, finals = run_results.sweeps, run_results.finals
    if not sweeps or not finals:
        return
    figures = []
    for backbone, layer in sorted({(r["backbone"], r["layer"]) for r in sweeps}):
        figures.append(page.figure(plots.ap_vs_c_chart(sweeps, backbone, layer),
                                   f"AP vs C, {backbone} {layer}"))
        figures.append(page.figure(plots.sgd_heatmap(sweeps, backbone, layer),
                                   f"SGD grid, {backbone} {layer}"))
    scored = test_scores(run_results)
    roc, pr = {}, {}
    for name, (labels, scores) in scored.items():
        fpr, tpr, _ = roc_curve(labels, scores)
        roc[name] = (fpr, tpr, roc_auc_score(labels, scores))
        precision, recall, _ = precision_recall_curve(labels, scores)
        pr[name] = (precision, recall, average_precision_score(labels, scores))
    chance = float(np.mean(next(iter(scored.values()))[0]))
    figures.append(page.figure(plots.roc_chart(roc), "ROC curves"))
    figures.append(page.figure(plots.precision_recall_chart(pr, chance), "precision-recall curves"))
    metrics = run_results.run.table("finetune_metrics").read().to_pylist()
    if metrics:
        figures.append(page.figure(plots.finetune_chart(sorted(metrics, key=lambda m: m["iteration"])),
                                   "fine-tuning curves"))
    chosen = page_model(run_results.run)
    title = f"{chosen.name}, test split"
    figures.append(page.figure(plots.confusion_chart(chosen.row["confusion"], title), "confusion matrix"))
    page.section("Curves", "<div class=grid>" + "".join(figures) + "</div>")


def test_scores(run_results: RunResults) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each model's ranking scores of the test photos, with their labels: every final classic model, and the
    fine-tuned network when it has run."""
    scored = {}
    for final in run_results.finals:
        model = load_final_model(run_results.run, final["family"], final["backbone"], final["layer"])
        test = run_results.test_originals(model.backbone, model.layer)
        scored[f"{model.family} ({model.backbone} {model.layer})"] = (
            test.label, model.ranking_score(test.layers[model.layer]))
    tuned = run_results.run.table("finetune_scores").read(["label", "p_good"])
    if tuned.num_rows:
        scored["fine-tuned network"] = (tuned.column("label").to_numpy(), tuned.column("p_good").to_numpy())
    return scored


def contact_sheets(page: Page, run_results: RunResults, config: Config) -> None:
    ranked = ranking(run_results)
    if ranked is None:
        page.section(PHOTOS, "<p class=missing>No model has run yet.</p>")
        return
    top, bottom = sheet_rows(ranked.rows)
    max_pixels = config.download.max_pixels
    bodies = ImageStore(run_results.run).get(sorted({r["sha256"] for r in top + bottom}))
    thumbs = {sha: inline(thumbnail(body, max_pixels), "image/jpeg") for sha, body in bodies.items()}
    heatmaps = _heatmaps(run_results.run, config, bodies)
    few = (
        f"<p class=note>The test split has only {len(ranked.rows)} photos, fewer than {2 * SHEET}: the sheets "
        f"show its top {len(top)} and bottom {len(bottom)}, each photo once.</p>"
        if len(ranked.rows) < 2 * SHEET else ""
    )
    body = (
        f"<p>Test photos ranked by {html.escape(ranked.model)} (by its score: {html.escape(ranked.score)}); "
        f"the caption gives the true label.</p>{few}{_view_switch(list(heatmaps))}"
        f"<h3>Top {len(top)}</h3>{_sheet(top, thumbs, heatmaps)}"
        f"<h3>Bottom {len(bottom)}</h3>{_sheet(bottom[::-1], thumbs, heatmaps)}"
    )
    page.section(PHOTOS, body)


def _heatmaps(run: RunFolder, config: Config, bodies: dict[str, bytes]) -> dict[str, dict[str, str]]:
    """Model name -> sha256 -> its Grad-CAM overlay (a data URI), for each model Grad-CAM can explain."""
    maps = SaliencyMaps.of_run(run, config)
    if not maps.scorers:
        return {}
    digests = sorted(bodies)
    photos = [decode_rgb(bodies[d], config.download.max_pixels, fit=DECODE_FIT).pixels for d in digests]
    return {name: {d: inline(jpeg, "image/jpeg") for d, jpeg in zip(digests, jpegs, strict=True)}
            for name, jpegs in maps.overlays(photos).items()}


def _view_switch(models: list[str]) -> str:
    """Radio buttons that show the photos or one model's Grad-CAM maps on both sheets (CSS does the swap)."""
    if not models:
        return ""
    choices = [("photo", "photos")] + [(f"heat-{i}", f"where {m} looks (Grad-CAM)") for i, m in enumerate(models)]
    buttons = " ".join(
        f'<label><input type=radio name=view value="{value}"{" checked" * (value == "photo")} '
        f"onchange=\"document.body.dataset.view = this.value\"> {html.escape(text)}</label>"
        for value, text in choices
    )
    rules = "".join(f'body[data-view="heat-{i}"] .sheet img.heat-{i} {{ display: block; }}'
                    for i in range(len(models)))
    return (f"<style>.sheet img.heat {{ display: none; }} body[data-view^=heat] .sheet img.photo {{ display: none; }}"
            f"{rules}</style><p class=view>Show: {buttons}</p>")


def _sheet(rows: list[dict], thumbs: dict[str, str], heatmaps: dict[str, dict[str, str]]) -> str:
    return f"<div class=sheet>{''.join(_cell(row, thumbs, heatmaps) for row in rows)}</div>"


def _cell(row: dict, thumbs: dict[str, str], heatmaps: dict[str, dict[str, str]]) -> str:
    """One photo of a sheet: its thumbnail, its maps (hidden until the view switch shows one), its caption."""
    name = html.escape(row["media_id"])
    images = f'<img class=photo src="{thumbs[row["sha256"]]}" alt="photo {name}">' + "".join(
        f'<img class="heat heat-{i}" src="{maps[row["sha256"]]}" alt="{html.escape(model)} map of {name}">'
        for i, (model, maps) in enumerate(heatmaps.items())
    )
    caption = (
        f"P(good) {row['p_good']:.2f} &middot; score {row['score']:+.3f} &middot; "
        f"{'good' if row['label'] else 'bad'}<br>"
        f"{row['like_count']:,} likes / {row['followers_count']:,} followers"
    )
    return f"<figure>{images}<figcaption>{caption}</figcaption></figure>"


def timings_and_config(page: Page, run: RunFolder, config: Config) -> None:
    """Folded away: stage timings with their total, provenance, and the config with its non-default keys first."""
    summaries = run.done_summaries()
    timings = "".join(
        f"<tr><td>{html.escape(name)}</td><td class=n>{summary.get('seconds', 0.0):.1f} s</td>"
        f"<td class=n>{len(summary.get('nodes', [])) or ''}</td></tr>"
        for name, summary in summaries.items()
    )
    total = sum(summary.get("seconds", 0.0) for summary in summaries.values())
    timings += f"<tr><th>total</th><th class=n>{total:.1f} s</th><th></th></tr>"
    now, defaults = config.model_dump(mode="json"), Config().model_dump(mode="json")
    differing = [k for k in differing_keys(defaults, now) if k != "run_dir"]
    rows = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{html.escape(str(_at(now, k)))}</td>"
        f"<td>{html.escape(str(_at(defaults, k)))}</td></tr>"
        for k in differing
    )
    page.section(
        "Timings and configuration",
        f"<details><summary>Timings: {total:.0f} s in all</summary>"
        f"<table><tr><th>stage</th><th>time</th><th>Ray nodes</th></tr>{timings}</table>{provenance_table(run)}"
        f"</details><details><summary>Configuration: {len(differing)} keys differ from the defaults</summary>"
        f"<table><tr><th>key</th><th>this run</th><th>default</th></tr>{rows}</table>"
        f"<details><summary>every key (YAML)</summary><pre>{html.escape(dump_yaml(config))}</pre></details>"
        "</details>",
    )


def _at(values: dict, key: str) -> object:
    for part in key.split("."):
        values = values[part]
    return values


def provenance_table(run: RunFolder) -> str:
    """What made each stage's results: its code (git commit where known), library versions and seeds."""
    rows = []
    for name, summary in run.done_summaries().items():
        made = summary.get("provenance")
        if made is None:
            continue
        libraries = ", ".join(f"{lib} {v}" for lib, v in made["versions"].items() if v)
        seeds = ", ".join(f"{k} = {v}" for k, v in provenance.seeds(made["config"]).items())
        commit = (made.get("git_commit") or "not a git checkout")[:12]
        rows.append(f"<tr><td>{html.escape(name)}</td><td>{html.escape(commit)}</td><td>{html.escape(libraries)}</td>"
                    f"<td>{html.escape(seeds)}</td></tr>")
    head = "<tr><th>stage</th><th>git commit</th><th>libraries</th><th>seeds</th></tr>"
    return f"<h3>Provenance</h3><table>{head}{''.join(rows)}</table>" if rows else ""
