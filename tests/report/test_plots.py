"""The report's figures stay readable."""

from __future__ import annotations

from likeability.report.plots import text_colour_on


def test_heatmap_text_is_dark_on_light_cells_and_light_on_dark_ones():
    assert text_colour_on((0.99, 0.91, 0.15, 1.0)) == "black"  # viridis' yellow end
    assert text_colour_on((0.27, 0.00, 0.33, 1.0)) == "white"  # viridis' purple end
    assert text_colour_on((0.97, 0.98, 1.0, 1.0)) == "black"  # Blues' palest
