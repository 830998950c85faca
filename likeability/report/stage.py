"""The report stage: one self-contained HTML page in the run folder (`report/index.html`), with its pictures.

What the study showed, for this run: the funnel, label balance, the results table beside the study's published
figures, AP against C per layer, the SGD grid, ROC curves, the confusion matrix, and the 25 test photos the model
likes most and least, each with P(good), likes and followers. Every file the page uses sits beside it; it needs
no server and nothing from the network. Parts whose stage has not run are said to be missing, not faked.
"""

from __future__ import annotations

from likeability.config import Config
from likeability.report import sections
from likeability.report.page import Page
from likeability.report.results import RunResults
from likeability.run import RunFolder, run_config
from likeability.runtime import Runtime


def run_report(config: Config, run: RunFolder, runtime: Runtime) -> dict:
    return {"report": write_report(run)}  # with what the stages ran with, not this invocation's config


def write_report(run: RunFolder) -> str:
    """Writes `report/` in the run, with the config each stage ran with; returns the page's path."""
    config = run_config(run)
    page, results = Page(), RunResults(run)
    sections.funnel(page, run)
    sections.labels(page, run)
    sections.results(page, results)
    sections.planted_world(page, run, config)
    sections.curves(page, results)
    sections.contact_sheets(page, results, config.download.max_pixels)
    sections.timings_and_config(page, run)
    return page.write(run)
