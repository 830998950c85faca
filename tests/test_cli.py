import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from likeability.cli import main
from likeability.collect.graph_api import business_discovery_fields
from likeability.config import Config, dump_yaml, load
from likeability.run import RunFolder
from likeability.simulator.world import World

REPO = Path(__file__).resolve().parents[1]


def test_status_of_a_new_run_lists_every_stage(tmp_path, capsys):
    RunFolder(str(tmp_path)).write_text("config.yaml", dump_yaml(Config()))  # what a run's first invocation writes
    assert main(["status", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"run {tmp_path}"
    assert lines[1].split() == [
        "collect", "not", "started", "users=0,", "posts=0,", "dropped_posts=0,", "failed_users=0,", "import_errors=0"
    ]
    assert lines[2].split() == ["filter", "not", "started", "user_filter=0,", "candidates=0,", "excluded_posts=0"]
    assert lines[-2].split() == ["explain", "not", "started", "photo_attributes=0,", "attribute_effects=0"]
    assert lines[-1].split() == ["report", "not", "started"]
    assert len(lines) == 10


HEAVY = ("ray", "torch", "torchvision", "sklearn", "matplotlib", "aiohttp")


def test_help_and_status_load_no_heavy_library(tmp_path):
    """They start in a fraction of a second; the time itself is benchmarks/bench_cli.py's to measure."""
    RunFolder(str(tmp_path)).write_text("config.yaml", dump_yaml(Config()))
    for verb in ("['--help']", f"['status', {str(tmp_path)!r}]"):
        probe = (f"import contextlib, sys\nfrom likeability.cli import main\nwith contextlib.suppress(SystemExit): "
                 f"main({verb})\nprint(sorted(m for m in {HEAVY!r} if m in sys.modules))")
        out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
        assert out.returncode == 0 and out.stdout.splitlines()[-1] == "[]", (verb, out.stdout[-500:], out.stderr)


def test_config_errors_exit_2_with_the_key_and_no_traceback(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("[simulator]\naccounts = -4\n")
    assert main(["run", "--config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: invalid config:")
    assert f"{bad}: simulator.accounts: Input should be greater than or equal to 1" in err
    assert "Traceback" not in err


MANIFEST_HEADER = "image,likes,followers,user,timestamp\n"
# A user mistake, the CLI arguments that make it (files in the test's folder), and what the one line must say.
MISTAKES = {
    "missing config": (["run", "--config", "{tmp}/nope.toml"], "nope.toml: config file not found"),
    "config is a folder": (["run", "--config", "{tmp}"], "is a folder; give the config file"),
    "unreadable config": (["run", "--config", "{tmp}/binary.toml"], "binary.toml: cannot be read as a text file"),
    "unknown key": (["run", "--set", "faces.nope=1"], "faces.nope: unknown key"),
    "wrong type": (["run", "--set", "faces.input_size=abc"], "faces.input_size: Input should be a valid integer"),
    "empty token file": (["collect", "--set", "collect.tokens.file='{tmp}/empty'", "--set", "collect.usernames=['a']"],
                         "no access tokens: set collect.tokens.file or collect.tokens.env"),
    "missing token file": (["collect", "--set", "collect.tokens.file='{tmp}/gone'", "--set", "collect.usernames=['a']"],
                           "token file {tmp}/gone not found"),
    "no usernames": (["collect", "--set", "collect.tokens.file='{tmp}/tokens'"],
                     "no accounts to collect: set collect.usernames or collect.usernames_file"),
    "manifest without its columns": (
        ["collect", "--set", "collect.source='manifest'", "--set", "collect.manifest='{tmp}/columns.csv'"],
        "missing required columns image, likes, followers, user, timestamp"),
    "manifest with bad values": (
        ["collect", "--set", "collect.source='manifest'", "--set", "collect.manifest='{tmp}/values.csv'"],
        "values.csv:2: likes 'many' is not a number"),
    "instaloader folder without posts": (
        ["collect", "--set", "collect.source='instaloader'", "--set", "collect.instaloader_dir='{tmp}/insta'"],
        "no instaloader metadata"),
    "status on a folder that is not a run": (["status", "{tmp}/insta"], "is not a likeability run folder"),
}


@pytest.mark.parametrize("mistake", MISTAKES)
def test_a_user_mistake_gets_one_line_naming_it_and_exit_2(mistake, ray_cluster, tmp_path, capsys):
    (tmp_path / "binary.toml").write_bytes(b"\xff\xfe\x00 not text")
    (tmp_path / "empty").write_text("")
    (tmp_path / "tokens").write_text("IGQVJ-a-token-for-the-cli-test\n")
    (tmp_path / "columns.csv").write_text("media_id,like_count\n1,2\n")
    (tmp_path / "values.csv").write_text(MANIFEST_HEADER + "a.jpg,many,10,u,2020-01-01T00:00:00Z\n")
    (tmp_path / "insta").mkdir()
    args, expected = MISTAKES[mistake]
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    if args[0] in ("run", "collect"):
        args += ["--run", str(tmp_path / "run")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and expected.replace("{tmp}", str(tmp_path)) in err, err
    assert "Traceback" not in err


def test_a_stage_verb_runs_that_stage_alone(ray_cluster, tmp_path, capsys):
    run_dir = tmp_path / "run"
    config = ["--config", str(REPO / "configs" / "demo.toml"), "--run", str(run_dir), "--set", "simulator.accounts=4"]
    assert main(["collect", *config]) == 0
    progress = capsys.readouterr().out.split(f"run {run_dir}")[0]  # before the closing status table
    assert "collect   done in" in progress and "filter" not in progress
    assert RunFolder(str(run_dir)).done_summary("collect") is not None


def test_simulate_api_serves_business_discovery_with_usage_headers_until_interrupted(tmp_path):
    tokens = tmp_path / "tokens.txt"
    tokens.write_text("SIMTOKEN-cli-0001\n")
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "likeability"), "simulate-api", "--port", "0",
         "--set", "simulator.accounts=4", "--set", "simulator.calls_per_window=10",
         "--set", f"simulator.tokens.file={tokens}"],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        banner = server.stdout.readline()
        assert banner.startswith("simulator: 4 accounts served at http://127.0.0.1:")
        base = banner.split(" at ")[1].split()[0]
        username = World(load(None, ["simulator.accounts=4"]).simulator, now=0).usernames[0]
        fields = business_discovery_fields(username, ["id", "like_count"])
        url = f"{base}/v25.0/17841400000000001?fields={fields}&access_token=SIMTOKEN-cli-0001"
        with urllib.request.urlopen(url, timeout=30) as response:
            body = json.load(response)
            usage = json.loads(response.headers["X-App-Usage"])
        assert body["business_discovery"]["username"] == username
        assert usage["call_count"] == 10  # one call of ten allowed
    finally:
        server.send_signal(signal.SIGINT)
        assert server.wait(timeout=30) == 0


def test_demo_scale_multiplies_the_simulated_accounts(tmp_path, capsys):
    from likeability.cli import _load, _parser

    args = _parser().parse_args(["demo", "--config", str(REPO / "configs" / "demo.toml"), "--scale", "2.5"])
    assert _load(args).simulator.accounts == 300
    assert main(["demo", "--config", str(REPO / "configs" / "demo.toml"), "--scale", "0"]) == 2
    assert "--scale 0.0: must be above 0" in capsys.readouterr().err
