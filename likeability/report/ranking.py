"""The test photos in the order a model ranks them, the two contact sheets cut from that order, and thumbnails."""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image

from likeability.images.decode import decode_rgb
from likeability.report.figures import page_model
from likeability.report.results import RunResults
from likeability.tune.final_models import load_final_model

SHEET = 25
THUMB = 180


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


def ranking(results: RunResults) -> Ranked | None:
    """The test photos in the order the page's model (see `page_model`) ranks them."""
    run = results.run
    chosen = page_model(run)
    if chosen is None:
        return None
    labels = {r["media_id"]: r for r in run.table("labels").read().to_pylist()}
    if chosen.finetuned:
        score = "P(good)"
        rows = [(r["media_id"], r["p_good"], r["p_good"]) for r in run.table("finetune_scores").read().to_pylist()]
    else:
        final = load_final_model(run, chosen.row["family"], chosen.row["backbone"], chosen.row["layer"])
        test = results.test_originals(final.backbone, final.layer)
        features = test.layers[final.layer]
        rows = list(zip(test.media_id.tolist(), final.p_good(features).tolist(),
                        final.ranking_score(features).tolist(), strict=True))
        score = "the forest's vote share" if final.family == "random_forest" else "the SVM's margin"
    rows.sort(key=lambda row: -row[2])
    return Ranked(chosen.name, score, [{**labels[m], "p_good": p, "score": v} for m, p, v in rows])


def thumbnail_image(body: bytes, max_pixels: int, side: int = THUMB) -> Image.Image:
    """The photo shrunk to fit side x side, decoded no larger than it needs."""
    image = Image.fromarray(decode_rgb(body, max_pixels, fit=side).pixels)
    image.thumbnail((side, side))
    return image


def thumbnail(body: bytes, max_pixels: int) -> bytes:
    image = thumbnail_image(body, max_pixels)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=85)
    return buffer.getvalue()
