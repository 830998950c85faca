"""The contact sheets' choice of photos; the whole page is tested end to end (test_end_to_end, test_pipeline)."""

from __future__ import annotations

import pytest

from likeability.report.ranking import SHEET, sheet_rows


@pytest.mark.parametrize("photos", [0, 1, 2, 3, 46, 49, 50, 51, 200])
def test_top_and_bottom_never_share_a_photo_and_fill_two_sheets_when_they_can(photos):
    ranked = [{"media_id": str(i)} for i in range(photos)]
    top, bottom = sheet_rows(ranked)
    assert top == ranked[: len(top)] and bottom == ranked[len(ranked) - len(bottom) :]
    assert len(top) + len(bottom) == min(photos, 2 * SHEET)
    assert len(top) - len(bottom) in (0, 1)
