"""What a stage records of the config and code that made its results, and the refusal of a config that would
change what a finished stage read."""

from __future__ import annotations

import re

import pytest
import ray

from likeability import provenance
from likeability.config import Config, ConfigError, load
from likeability.run import RunFolder, run_config


def test_a_stage_records_the_values_it_reads_the_library_versions_and_the_commit():
    config = load(None, ["faces.score_threshold=0.7", "labels.seed=5"])
    made = provenance.record(config, ("faces", "labels", "download.max_pixels"))
    assert made["config"]["faces"]["score_threshold"] == 0.7
    assert made["config"]["download"] == {"max_pixels": config.download.max_pixels}
    assert set(made["config"]) == {"faces", "labels", "download"}
    assert made["versions"]["ray"] == ray.__version__ and made["versions"]["torch"]
    assert made["git_commit"] is None or re.fullmatch(r"[0-9a-f]{40}", made["git_commit"])
    assert provenance.seeds(made["config"]) == {"labels.seed": 5}


def test_only_keys_that_shape_results_count_as_changes():
    recorded = provenance.record(Config(), ("faces", "embed"))["config"]
    faster = load(None, ["faces.actors=3", "faces.gpus_per_actor=1", "embed.batch_size=256"])
    assert provenance.changed_keys(recorded, faster) == []
    stricter = load(None, ["faces.score_threshold=0.9", "embed.mirror=false"])
    assert provenance.changed_keys(recorded, stricter) == ["faces.score_threshold", "embed.mirror"]


def test_a_change_to_what_a_finished_stage_read_is_refused_with_the_two_ways_on():
    finished = {"curate": {"provenance": provenance.record(Config(), ("download", "faces"))}}
    provenance.refuse_changes(finished, load(None, ["download.workers=4"]))  # how fast: allowed
    with pytest.raises(ConfigError, match=re.escape(
        "stage curate already ran in this run with faces.score_threshold=0.8 (now 0.6); to use the new values, "
        "start a new run folder (--run NEW) or rerun it and every stage after it (--rerun curate)"
    )):
        provenance.refuse_changes(finished, load(None, ["faces.score_threshold=0.6"]))


def test_the_run_config_is_what_each_stage_ran_with(tmp_path):
    run = RunFolder(str(tmp_path))
    run.write_text("config.yaml", "faces:\n  score_threshold: 0.8\n")
    run.mark_done("curate", {"provenance": provenance.record(load(None, ["faces.score_threshold=0.6"]), ("faces",))})
    assert run_config(run).faces.score_threshold == 0.6
