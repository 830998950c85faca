"""`likeability serve`: the Ray Serve application that judges uploaded photos with a finished run's models.

Routes: GET / (the page), POST /predict (the photo as the request body: a JSON verdict, or a 4xx with
{"error": ...}), GET /photos/<sha256>.jpg (thumbnails of the run's test photos, for the page). The CLI builds it
with `service`; `serve run likeability.serve.app:build_app run=RUN` and Serve config files (`serve deploy`) with
`build_app`."""

from __future__ import annotations

import asyncio
import functools
import logging
import re
from importlib import resources

import jinja2
from ray import serve
from ray.serve import Application
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from likeability.config import ConfigError, ServeConfig, with_overrides
from likeability.images.store import ImageStore
from likeability.report.ranking import THUMB, thumbnail
from likeability.run import RunFolder, run_config
from likeability.serve.judge import PhotoJudge, Refusal, Verdict

APP_NAME = "likeability"
THUMBNAIL_PATH = re.compile(r"/photos/([0-9a-f]{64})\.jpg")
logger = logging.getLogger("ray.serve")


class UploadTooLarge(Exception):
    pass


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def read_upload(request: Request, limit: int) -> bytes:
    """The request body, refused as soon as it is known to exceed `limit` bytes (declared or as it streams in)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise UploadTooLarge
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise UploadTooLarge
    return bytes(body)


class Thumbnails:
    """Small JPEGs of the run's test photos, read from its images table when first asked for, then kept."""

    def __init__(self, run: RunFolder, digests: set[str], max_pixels: int, kept: int = 1024):
        self._store = ImageStore(run)
        self._digests = digests
        self._max_pixels = max_pixels
        self.get = functools.lru_cache(maxsize=kept)(self._make)

    def _make(self, digest: str) -> bytes | None:
        if digest not in self._digests:
            return None  # only test photos: the service shows nothing else of the run
        body = self._store.get([digest]).get(digest)
        return thumbnail(body, self._max_pixels) if body is not None else None


def page(run: str, judge: PhotoJudge, settings: ServeConfig) -> str:
    template = resources.files("likeability.serve").joinpath("page.html").read_text()
    return jinja2.Environment(autoescape=True).from_string(template).render(
        run=run, models=judge.models, threshold=judge.config.faces.score_threshold, test_photos=len(judge.gallery),
        neighbours=settings.neighbours, max_upload_mb=settings.max_upload_mb,
        max_upload_bytes=upload_limit(settings), thumb=THUMB,
    )


def upload_limit(settings: ServeConfig) -> int:
    return int(settings.max_upload_mb * 2**20)


@serve.deployment(name=APP_NAME)
class LikeabilityService:
    def __init__(self, run: str, settings: dict):
        self._settings = ServeConfig(**settings)
        self._judge = PhotoJudge(run, self._settings.neighbours)
        self._page = page(run, self._judge, self._settings)
        self._thumbnails = Thumbnails(RunFolder(run), set(self._judge.gallery.sha256),
                                      self._judge.config.download.max_pixels)
        self.judge_batch.set_max_batch_size(self._settings.max_batch_size)
        self.judge_batch.set_batch_wait_timeout_s(self._settings.batch_wait_ms / 1000)

    async def __call__(self, request: Request) -> Response:
        # Under a route prefix other than /, Starlette's path still starts with it.
        path = request.url.path.removeprefix(request.scope.get("root_path", "")) or "/"
        if request.method == "POST" and path == "/predict":
            return await self._predict(request)
        if request.method == "GET" and path == "/":
            return HTMLResponse(self._page)
        if request.method == "GET" and (match := THUMBNAIL_PATH.fullmatch(path)):
            return await self._thumbnail(match.group(1))
        return error(404, f"no such page: {request.method} {path} (the service has GET / and POST /predict)")

    async def _predict(self, request: Request) -> Response:
        try:
            body = await read_upload(request, upload_limit(self._settings))
        except UploadTooLarge:
            limit = self._settings.max_upload_mb
            return error(413, f"the upload is over the limit of {limit} MB (serve.max_upload_mb)")
        if not body:
            return error(400, "no photo: send the image file as the request body")
        try:
            answer = await self.judge_batch(body)
        except Exception as err:  # a bug, not the photo: the replica answers 500 and keeps serving
            logger.exception("judging a photo failed")
            return error(500, f"the photo could not be judged ({type(err).__name__}); the service log has details")
        if isinstance(answer, Refusal):
            return error(answer.status, answer.error)
        return JSONResponse(answer.as_json())

    async def _thumbnail(self, digest: str) -> Response:
        jpeg = await asyncio.to_thread(self._thumbnails.get, digest)
        if jpeg is None:
            return error(404, f"no test photo {digest} in this run")
        return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "max-age=86400"})

    @serve.batch(max_batch_size=16, batch_wait_timeout_s=0.01)  # both set from serve.* in __init__
    async def judge_batch(self, bodies: list[bytes]) -> list[Verdict | Refusal]:
        # The judge is CPU-bound (torch and onnxruntime release the GIL): off the event loop, so the page and
        # thumbnails still answer while a batch runs.
        return await asyncio.to_thread(self._judge.judge, bodies)


def serve_settings(run: str, overrides: list[str]) -> ServeConfig:
    """The run's serve.* settings with `serve.key=value` overrides; every other setting is the run's own."""
    for item in overrides:
        if not item.startswith("serve."):
            raise ConfigError(f"--set {item}: serve takes serve.* settings only; the run's models were made with "
                              "the rest of its config, which stays as it is")
    return with_overrides(run_config(RunFolder(run)), overrides, source=f"{run}/config.yaml").serve


def service(run: str, settings: ServeConfig) -> Application:
    return LikeabilityService.options(
        autoscaling_config={
            "min_replicas": settings.min_replicas,
            "max_replicas": max(settings.min_replicas, settings.max_replicas),
            "target_ongoing_requests": settings.target_ongoing_requests,
        },
        max_ongoing_requests=settings.max_ongoing_requests,
        ray_actor_options={"num_cpus": settings.cpus_per_replica, "num_gpus": settings.gpus_per_replica},
    ).bind(run, settings.model_dump())


def build_app(args: dict[str, str]) -> Application:
    """For `serve run likeability.serve.app:build_app run=RUN serve.max_replicas=4` and Serve config files."""
    if "run" not in args:
        raise ConfigError("the likeability application needs run=RUN: the run folder whose models judge photos")
    overrides = [f"{key}={value}" for key, value in args.items() if key != "run"]
    return service(args["run"], serve_settings(args["run"], overrides))


def start(run: str, settings: ServeConfig) -> str:
    """Serve's HTTP proxy on serve.host:serve.port and the application at /, running once this returns; the
    page's address."""
    serve.start(http_options={"host": settings.host, "port": settings.port})
    serve.run(service(run, settings), name=APP_NAME, route_prefix="/")
    return f"http://{settings.host}:{settings.port}/"
