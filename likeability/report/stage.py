"""The report stage: one self-contained HTML page in the run folder (`report/index.html`), with its pictures.

What the study showed, for this run: the funnel, label balance, the results table beside the study's published
figures, AP against C per layer, the SGD grid, ROC curves, the confusion matrix, the 25 test photos the model
likes most and least, each with P(good), likes and followers, and what it likes (the explain stage). Plots and
thumbnails are inline (data URIs): the page is one file that needs no server and nothing from the network, and
`likeability report RUN --out FILE` writes it anywhere. Parts whose stage has not run are said to be missing, not faked.
"""

from __future__ import annotations

from pathlib import Path

from likeability.config import Config
from likeability.report import sections
from likeability.report.page import Page
from likeability.report.results import RunResults
from likeability.run import RunFolder, run_config
from likeability.runtime import Runtime


def run_report(config: Config, run: RunFolder, runtime: Runtime) -> dict:
    return {"report": write_report(run)}  # with what the stages ran with, not this invocation's config


def write_report(run: RunFolder, out: Path | None = None) -> str:
    """Writes RUN/report/index.html (or `out`), with the config each stage ran with; returns the page's path."""
    config = run_config(run)
    page, results = Page(), RunResults(run)
    sections.funnel(page, run)
    sections.labels(page, run)
    sections.results(page, results)
    sections.planted_world(page, run, config)
    sections.curves(page, results)
    sections.contact_sheets(page, results, config)
    sections.what_the_model_likes(page, run, config)
    sections.timings_and_config(page, run, config)
    return page.write(run, out)
