import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

from likeability.cli import main
from likeability.collect.graph_api import business_discovery_fields
from likeability.config import load
from likeability.run import RunFolder
from likeability.simulator.world import World

REPO = Path(__file__).resolve().parents[1]


def test_status_of_a_new_run_lists_every_stage(tmp_path, capsys):
    assert main(["status", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"run {tmp_path}"
    assert lines[1].split() == [
        "collect", "not", "started", "users=0,", "posts=0,", "dropped_posts=0,", "failed_users=0,", "import_errors=0"
    ]
    assert lines[2].split() == ["filter", "not", "started", "user_filter=0,", "candidates=0,", "excluded_posts=0"]
    assert lines[-1].split() == ["report", "not", "started"]
    assert len(lines) == 9


def test_config_errors_exit_2_with_the_key_and_no_traceback(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("[simulator]\naccounts = -4\n")
    assert main(["run", "--config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: invalid config:")
    assert f"{bad}: simulator.accounts: Input should be greater than or equal to 1" in err
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
