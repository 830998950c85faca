"""The demo from nothing to final models on a small simulated world, then `predict` with its model: the
planted signal must be learnable from MobileNetV2 features (offline ImageNet weights)."""

from __future__ import annotations

import contextlib
import io
import re
import subprocess
import time
from pathlib import Path

import pytest
import ray
from playwright.sync_api import sync_playwright
from sklearn.metrics import roc_auc_score

from helpers import DEMO_TEST_SETTINGS, chromium
from instaloader_world import write_instaloader_folder
from likeability.cli import main
from likeability.config import SimulatorConfig, load
from likeability.learn.predict import predict
from likeability.report.figures import page_model, scored_models
from likeability.run import RunFolder, run_config
from likeability.simulator.bayes import bayes_rule
from likeability.simulator.images import render_jpeg
from likeability.simulator.world import World

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts"


def test_demo_runs_every_built_stage_and_saves_its_config(demo_run, monkeypatch):
    run_dir, out, _ = demo_run
    assert "ray: local" in out and "simulator: 120 accounts served at http://127.0.0.1:18765" in out
    for stage in ("collect", "filter", "curate", "labels", "embed", "sweeps", "finetune", "explain", "report"):
        assert f"{stage:<9} done in" in out
    assert "with a face" in out  # the funnel
    assert re.search(r"^embed     running: .* \(mobilenet_v2: pool\)$", out, re.M)  # the backbone and layer it runs
    assert len(out.splitlines()) < 60  # a line per stage start and end, progress lines, the status
    saved = load(run_dir / "config.yaml")
    assert saved == load(REPO / "configs" / "demo.toml", [*DEMO_TEST_SETTINGS, f"run_dir={run_dir}"])


def test_planted_signal_is_learned_on_the_user_grouped_test_split(demo_run):
    run = RunFolder(str(demo_run[0]))
    finals = {row["family"]: row for row in run.table("final_models").read().to_pylist()}
    assert set(finals) == {"linear_svc", "sgd_svm", "random_forest"}
    svm = finals["linear_svc"]
    assert svm["test_roc_auc"] > 0.65, svm  # chance is 0.5
    tn, fp, fn, tp = svm["confusion"]
    assert (tn + tp) / (tn + fp + fn + tp) == pytest.approx(svm["test_accuracy"])
    for row in finals.values():  # intervals over test users hold their figure; the SVM beats chance
        for figure in ("accuracy", "ap", "roc_auc"):
            assert row[f"test_{figure}_low"] <= row[f"test_{figure}"] <= row[f"test_{figure}_high"]
    assert svm["test_ap_low"] > svm["chance_ap"]


def test_the_best_model_comes_within_3_points_of_the_planted_worlds_bayes_accuracy(demo_run):
    run = RunFolder(str(demo_run[0]))
    rule = bayes_rule(World(run_config(run).simulator, now=0), run.table("labels").read())
    best = max(row["test_accuracy"] for _, row in scored_models(run))
    assert best >= rule.accuracy - 0.03, (best, rule)
    page = (Path(demo_run[0]) / "report" / "index.html").read_text()
    assert f"the Bayes accuracy, is <b>{rule.accuracy:.3f}</b>" in page
    assert "<h3>Provenance</h3>" in page and f"ray {ray.__version__}" in page and "labels.seed = 0" in page


def test_predict_scores_photos_of_people_and_refuses_photos_without_a_face(demo_run, tmp_path):
    run_dir = str(demo_run[0])
    person, meme = tmp_path / "person.jpg", tmp_path / "meme.jpg"
    person.write_bytes(render_jpeg(1, 10**9, "closeup", 320))
    meme.write_bytes(render_jpeg(1, 10**9 + 1, "meme", 320))
    scored, refused = predict([str(person), str(meme)], run_dir)
    assert scored.p_good is not None and 0 <= scored.p_good <= 1 and scored.faces >= 1
    assert refused.p_good is None and refused.note.startswith("no face")
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(person.read_bytes())
    (folder / "b.jpg").write_bytes(meme.read_bytes())
    through_ray = predict([str(folder)], run_dir, model="random_forest")
    assert [p.source for p in through_ray] == [str(folder / "a.jpg"), str(folder / "b.jpg")]
    assert through_ray[0].p_good is not None and through_ray[1].p_good is None
    assert through_ray[0].model.startswith("random_forest on mobilenet_v2 pool")


def test_predict_command_prints_each_photo_and_a_summary(demo_run, tmp_path, capsys):
    person, meme = tmp_path / "person.jpg", tmp_path / "meme.jpg"
    person.write_bytes(render_jpeg(4, 10**9, "outdoor", 320))
    meme.write_bytes(render_jpeg(4, 10**9 + 1, "meme", 320))
    assert main(["predict", str(person), str(meme), "--run", str(demo_run[0]), "--model", "linear_svc"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"{person}: P(good) = ") and "linear_svc on mobilenet_v2 pool" in lines[0]
    assert lines[1].startswith(f"{meme}: no face")
    assert lines[2].startswith("2 photos, 1 scored, mean P(good) ")
    assert main(["predict", str(tmp_path / "nope.jpg"), "--run", str(demo_run[0])]) == 2
    assert "no such photo or folder" in capsys.readouterr().err
    notes = tmp_path / "notes.jpg"
    notes.write_text("a shopping list, not a photo")
    assert main(["predict", str(notes), "--run", str(demo_run[0])]) == 2
    said = capsys.readouterr()
    assert said.out.startswith(f"{notes}: not scored: ")
    assert said.err == (f"error: 1 of the files given are not photos this tool can read ({notes}): give JPEG, PNG, "
                        "GIF or WebP files\n")


def test_a_config_that_changes_a_finished_stage_is_refused_and_the_run_keeps_its_own(demo_run, capsys):
    run_dir, _, args = demo_run
    saved = (Path(run_dir) / "config.yaml").read_text()
    assert main([*args, "--set", "faces.score_threshold=0.85"]) == 2
    error = capsys.readouterr().err
    assert "stage curate already ran in this run with faces.score_threshold=0.8 (now 0.85)" in error
    assert "--run NEW" in error and "--rerun curate" in error and "Traceback" not in error
    assert (Path(run_dir) / "config.yaml").read_text() == saved
    assert main([*args, "--set", "faces.actors=1"]) == 0  # how it runs, not what: allowed
    assert "config differs from the run's config.yaml in faces.actors" in capsys.readouterr().out
    assert run_config(RunFolder(str(run_dir))).faces.score_threshold == 0.8  # what predict and the report use


def test_report_loads_in_a_real_browser_with_every_picture(demo_run):
    report = Path(demo_run[0]) / "report" / "index.html"
    assert f"report={report}" in demo_run[1]
    browser = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
               "--virtual-time-budget=10000", "--window-size=1300,5200"]
    dom = subprocess.run([*browser, "--dump-dom", report.as_uri()], capture_output=True, text=True, timeout=120)
    body = re.search(r"<body[^>]*>", dom.stdout).group(0)
    images = int(re.search(r'data-images="(\d+)"', body).group(1))
    # both contact sheets; the funnel, labels, AP vs C, SGD grid, ROC, precision-recall, fine-tuning, confusion
    assert images >= 2 * 25 + 8
    assert 'data-broken-images="0"' in body
    for heading in ("The funnel", "Results", "Curves", "The photos the model likes most and least",
                    "What the model likes"):
        assert f"<h2>{heading}</h2>" in dom.stdout
    for curve in ("ROC curves", "precision-recall curves", "fine-tuning curves", "confusion matrix",
                  "attribute correlations", "map of the test photos"):
        assert f'alt="{curve}"' in dom.stdout
    assert "The model this page shows in detail" in dom.stdout
    for model in range(2):  # Grad-CAM maps of the fine-tuned network and the best SVM, one per sheet photo
        assert dom.stdout.count(f'class="heat heat-{model}"') == 2 * 25
    with sync_playwright() as playwright:  # the switch above the sheets swaps photos for one model's maps
        viewer = chromium(playwright)
        page = viewer.new_page()
        page.goto(report.as_uri())
        assert page.locator(".sheet img.photo:visible").count() == 50
        assert not page.locator(".sheet img.heat:visible").count()
        page.check("input[value=heat-1]")
        assert page.locator(".sheet img.heat-1:visible").count() == 50
        assert not page.locator(".sheet img.photo:visible").count()
        viewer.close()
    screenshot = ARTIFACTS / "report.png"  # kept after the run, for a person to look at
    ARTIFACTS.mkdir(exist_ok=True)
    screenshot.unlink(missing_ok=True)
    subprocess.run([*browser, f"--screenshot={screenshot}", report.as_uri()], capture_output=True, timeout=120)
    assert screenshot.stat().st_size > 100_000


def test_the_report_is_one_file_to_send_and_the_console_ends_with_its_path(demo_run, tmp_path):
    report = Path(demo_run[0]) / "report" / "index.html"
    assert demo_run[1].strip().splitlines()[-1] == f"report: {report}"
    sent = tmp_path / "elsewhere" / "likeability.html"
    assert main(["report", str(demo_run[0]), "--out", str(sent)]) == 0
    page = sent.read_text()
    sources = re.findall(r'<img[^>]* src="([^"]*)"', page)
    assert len(sources) >= 2 * 25 + 8 and all(src.startswith("data:image/") for src in sources)
    assert "<link" not in page and "<script src" not in page and len(page.encode()) < 5 * 2**20
    assert "<summary>Configuration: " in page and "<summary>Timings: " in page
    chosen = page_model(RunFolder(str(demo_run[0])))  # by its validation figure; the page names it and why
    assert f"is <b>{chosen.name}</b>: the best by {chosen.measured_by}" in page
    assert f"Test photos ranked by {chosen.name}" in page


def test_fine_tuned_network_ranks_every_test_photo_above_chance_and_predicts(demo_run, tmp_path):
    run = RunFolder(str(demo_run[0]))
    scores = run.table("finetune_scores").read()
    test_photos = run.table("labels").read(["split"]).column("split").to_pylist().count("test")
    assert scores.num_rows == test_photos
    assert roc_auc_score(scores.column("label").to_numpy(), scores.column("p_good").to_numpy()) > 0.6
    person = tmp_path / "person.jpg"
    person.write_bytes(render_jpeg(5, 10**9, "outdoor", 320))
    (prediction,) = predict([str(person)], str(demo_run[0]), model="finetuned")
    assert prediction.model.startswith("fine-tuned mobilenet_v2") and 0 <= prediction.p_good <= 1


def test_run_on_an_instaloader_folder_ends_in_a_report(ray_cluster, tmp_path):
    # real Instagram sizes (1080 x 1349, 1440 x 1800, 640 x 335 ...) and formats: fine-tuning once crashed on them
    photos = write_instaloader_folder(tmp_path / "downloads", SimulatorConfig(seed=7, accounts=16), time.time())
    config = tmp_path / "instaloader.toml"
    config.write_text(f"""
run_dir = "{tmp_path / 'run'}"
[collect]
source = "instaloader"
instaloader_dir = "{tmp_path / 'downloads'}"
[faces]
input_size = 320
[embed]
backbone = "mobilenet_v2"
batch_size = 16
[sweeps]
linear_svc_c = [1e-4, 1e-2]
sgd_alpha = [1e-3]
sgd_eta0 = [1e-3]
forest_trees = 20
mirrored = [true]
folds = 3
[finetune]
backbone = "mobilenet_v2"
freeze_features = true
iterations = 4
batch_size = 8
eval_every = 4
log_every = 2
""")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["run", "--config", str(config)]) == 0
    report = tmp_path / "run" / "report" / "index.html"
    assert f"report={report}" in out.getvalue()
    run = RunFolder(str(tmp_path / "run"))
    statuses = run.table("downloads").read(["status"]).column("status").to_pylist()
    assert statuses and set(statuses) == {"ok"}  # images read from the folder, not fetched
    assert 0 < run.table("labels").num_rows() <= photos
    assert "<h2>Results</h2>" in report.read_text() and "fine-tuned network" in report.read_text()

