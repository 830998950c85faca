from pathlib import Path

import pytest
import yaml

from likeability.config import Config, ConfigError, dump_yaml, load
from likeability.schemas import BACKBONE_LAYERS
from likeability.simulator.world import World

REPO = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_defaults_without_a_file():
    assert load(None) == Config()


@pytest.mark.parametrize("name", ["demo.toml", "cluster.toml", "study.toml"])
def test_shipped_configs_load(name):
    config = load(REPO / "configs" / name)
    assert config.simulator.enabled is (name != "cluster.toml")


@pytest.mark.parametrize("name", ["demo.toml", "study.toml"])
def test_the_collector_is_paced_to_the_bundled_simulators_window(name):
    # Paced to the platform's hour instead, a world larger than one window's calls would stall for an hour.
    config = load(REPO / "configs" / name)
    assert config.collect.window_seconds == config.simulator.window_seconds
    assert config.collect.calls_per_window <= config.simulator.calls_per_window


def test_study_config_is_the_studys_size():
    config = load(REPO / "configs" / "study.toml")
    world = World(config.simulator, now=0.0)
    assert world.n_accounts == 100_000 and 190_000 <= world.n_posts <= 210_000
    assert config.embed.backbones == ["alexnet"] and BACKBONE_LAYERS["alexnet"] == {"fc6": 4096, "fc7": 4096}
    assert config.embed.mirror and config.sweeps.mirrored == [False, True]
    assert len(config.sweeps.linear_svc_c) == 12 and config.sweeps.forest_trees == 500


def test_demo_config_is_local_with_simulator():
    config = load(REPO / "configs" / "demo.toml")
    assert config.ray.address is None
    assert config.simulator.seed == 7


def test_unknown_key_names_key_and_file(tmp_path):
    path = write(tmp_path, "c.toml", "[simulator]\naccount = 3\n")
    with pytest.raises(ConfigError) as err:
        load(path)
    assert f"{path}: simulator.account: unknown key" in str(err.value)


def test_unknown_section_is_rejected(tmp_path):
    path = write(tmp_path, "c.toml", "[simulater]\nseed = 3\n")
    with pytest.raises(ConfigError, match="simulater: unknown key"):
        load(path)


def test_wrong_type_names_key_file_and_value(tmp_path):
    path = write(tmp_path, "c.yaml", "simulator:\n  accounts: many\n")
    with pytest.raises(ConfigError) as err:
        load(path)
    message = str(err.value)
    assert f"{path}: simulator.accounts:" in message
    assert "'many'" in message


def test_out_of_range_value_is_rejected(tmp_path):
    path = write(tmp_path, "c.toml", "[simulator.faults]\nserver_error_rate = 1.5\n")
    with pytest.raises(ConfigError, match="simulator.faults.server_error_rate"):
        load(path)


def test_posts_range_must_be_ordered():
    with pytest.raises(ConfigError, match="posts_per_account_min must not exceed"):
        load(None, ["simulator.posts_per_account_min=9", "simulator.posts_per_account_max=3"])


def test_overrides_are_typed_and_win_over_the_file(tmp_path):
    path = write(tmp_path, "c.toml", 'run_dir = "a"\n[simulator]\naccounts = 3\n')
    config = load(
        path,
        [
            "simulator.accounts=40",
            "run_dir=runs/x",
            "simulator.window_seconds=2.5",
            "simulator.enabled=true",
            'ray.address="auto"',
        ],
    )
    assert config.simulator.accounts == 40
    assert config.run_dir == "runs/x"
    assert config.simulator.window_seconds == 2.5
    assert config.simulator.enabled is True
    assert config.ray.address == "auto"


def test_bad_override_value_names_the_flag(tmp_path):
    path = write(tmp_path, "c.toml", "")
    with pytest.raises(ConfigError) as err:
        load(path, ["simulator.accounts=lots"])
    assert "--set simulator.accounts: simulator.accounts:" in str(err.value)


def test_unknown_override_key_names_the_flag():
    with pytest.raises(ConfigError, match=r"--set simulator.acounts: simulator.acounts: unknown key"):
        load(None, ["simulator.acounts=3"])


def test_override_without_equals_is_rejected():
    with pytest.raises(ConfigError, match="expected section.key=value"):
        load(None, ["simulator.accounts"])


def test_override_cannot_descend_into_a_value():
    with pytest.raises(ConfigError, match="--set run_dir.x: run_dir: Input should be a valid string"):
        load(None, ["run_dir.x=1"])


def test_override_cannot_descend_into_a_value_from_the_file(tmp_path):
    path = write(tmp_path, "c.toml", 'run_dir = "a"\n')
    with pytest.raises(ConfigError, match="--set run_dir.x=1: run_dir is a value, not a section"):
        load(path, ["run_dir.x=1"])


def test_syntax_error_names_the_file(tmp_path):
    path = write(tmp_path, "c.toml", "[simulator\n")
    with pytest.raises(ConfigError, match=f"{path}: not valid TOML"):
        load(path)


def test_missing_file_and_unknown_suffix(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match="must be .toml, .yaml or .yml"):
        load(write(tmp_path, "c.json", "{}"))


def test_saved_yaml_loads_back_to_the_same_config(tmp_path):
    config = load(REPO / "configs" / "demo.toml", ["simulator.accounts=9"])
    saved = write(tmp_path, "config.yaml", dump_yaml(config))
    assert load(saved) == config
    assert yaml.safe_load(saved.read_text())["simulator"]["accounts"] == 9
