"""Real runs on the bundled simulator whose data leaves a stage nothing: each stops at that stage, naming the
step that removed the rows and how many, with exit code 2 and no traceback."""

import re
from pathlib import Path

import pytest

from likeability.cli import main
from likeability.run import RunFolder

REPO = Path(__file__).resolve().parents[1]


def run_demo(run_dir: Path, *overrides: str) -> int:
    settings = [arg for override in ("simulator.accounts=4", *overrides) for arg in ("--set", override)]
    return main(["run", "--config", str(REPO / "configs" / "demo.toml"), "--run", str(run_dir), *settings])


@pytest.mark.parametrize(
    "override, stage, message",
    [
        ("collect.min_age_days=100000", "collect",
         r"collect: no post is old enough and has the hashtags \(0 of \d+ collected; removed: too_young \d+\): "
         r"lower collect.min_age_days"),
        ("faces.min_face_fraction=0.99", "curate",
         r"curate: no photo passed the face filter \(0 of \d+ downloaded; removed: no_face \d+\): "
         r"lower faces.score_threshold"),
        ("simulator.accounts=1", "labels",
         r"labels: the test split has no photo \(\d+ labelled photos, 1 user\): collect more accounts"),
    ],
)
def test_a_stage_left_with_nothing_names_the_step_and_stops(ray_cluster, tmp_path, capsys, override, stage, message):
    assert run_demo(tmp_path / "run", override) == 2
    out, err = capsys.readouterr()
    assert err.startswith("error: ") and "Traceback" not in err
    assert re.search(message, err), err
    assert f"{stage:<9} running" in out and f"{stage:<9} done" not in out
    assert RunFolder(str(tmp_path / "run")).done_summary(stage) is None  # a rerun stops there again
