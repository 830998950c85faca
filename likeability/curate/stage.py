"""The curate stage: candidate posts -> images fetched -> decoded -> faces detected -> rows, as one stream.

One Ray Data pipeline, so detection starts on the first images while later ones are still downloading:

    candidates (blocks of download.batch_size posts, in the object store)
      -> FetchImages   actor pool, async aiohttp: many requests in flight per actor, cheap header checks
      -> DetectFaces   actor pool (GPU when configured): decode (JPEG draft), digest, detect
      -> the driver    commits new `images`, `faces` and `downloads` rows together, a part per group of posts

Images travel as their original bytes (never re-encoded) and are decoded once, in the detector. A post is
done when its `downloads` row is committed; a re-run skips done posts, so it fetches only what is missing.
The driver holds one group at a time, so its memory does not grow with the run.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pyarrow as pa
import pyarrow.compute as pc
import ray

from likeability.actor_pools import actor_pool
from likeability.config import Config, DownloadConfig, FacesConfig
from likeability.curate.faces.build import build_detector
from likeability.curate.faces.detection import in_full_photo, summarize
from likeability.curate.fetch import Fetched, ImageFetcher, open_session
from likeability.curate.url_policy import UrlPolicy
from likeability.images.decode import BadImage, decode_rgb, sniff, sniff_format
from likeability.images.store import ImageStore
from likeability.progress import Progress, tally
from likeability.run import RunFolder
from likeability.runtime import Runtime
from likeability.schemas import DOWNLOADS, FACES, IMAGES
from likeability.stream_groups import group_key, groups

# A fetch actor waits on the network and reads headers; it takes no CPU slot, so the detector pool may
# have every CPU without starving it (an actor pool holding all CPUs that other work needs would hang).
FETCH_CPUS = 0
COMMIT_EVERY = 256
# What a detector actor hands on: download and face columns side by side (face columns null for posts
# without an image), with the original bytes of each image that decoded.
RESULTS = pa.schema(
    list(DOWNLOADS)
    + [field.with_nullable(True) for field in FACES if field.name != "media_id"]
    + [pa.field("body", pa.binary())]
)
# What a fetch actor hands on: the original bytes of each image that arrived and passed the header checks.
FETCHED = pa.schema(
    [
        pa.field("media_id", pa.string(), nullable=False),
        pa.field("status", pa.string(), nullable=False),
        pa.field("detail", pa.string()),
        pa.field("http_status", pa.int32()),
        pa.field("body", pa.binary()),
    ]
)  # posts per committed part: small enough to lose little to a crash, big enough for Parquet


class FetchImages:
    """Ray Data callable class: fetches one batch of posts' images concurrently on the actor's event loop."""

    def __init__(self, config: DownloadConfig):
        self._config = config
        self._policy = UrlPolicy.of(config)
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._fetcher: ImageFetcher | None = None

    async def __call__(self, batch: pa.Table) -> pa.Table:
        if self._fetcher is None:  # the session belongs to the event loop Ray Data runs this on
            self._loop = asyncio.get_running_loop()
            self._session = open_session(self._config, self._policy)
            self._fetcher = ImageFetcher(self._session, self._policy, self._config)
        urls, paths = batch.column("media_url").to_pylist(), batch.column("image_path").to_pylist()
        results = await asyncio.gather(*(self._one(url, path) for url, path in zip(urls, paths, strict=True)))
        return pa.table(
            {
                "media_id": batch.column("media_id"),
                "status": [r.status for r in results],
                "detail": [r.detail for r in results],
                "http_status": [r.http_status for r in results],
                "body": [r.body for r in results],
            },
            schema=FETCHED,
        )

    def __del__(self) -> None:
        # Ray Data deletes the callable when its actor shuts down; the session must close on its own loop.
        if self._session is not None and self._loop is not None and self._loop.is_running():
            asyncio.run_coroutine_threadsafe(self._session.close(), self._loop).result(timeout=10)

    async def _one(self, url: str | None, path: str | None) -> Fetched:
        if path:  # an importer's local file: the user's own data, read as it is
            try:
                fetched = Fetched("ok", body=await asyncio.to_thread(Path(path).read_bytes))
            except OSError as err:
                return Fetched("unreadable_file", f"{type(err).__name__}: {err.strerror or err}")
        elif url:
            fetched = await self._fetcher.fetch(url)
        else:
            return Fetched("missing_url", "post has neither media_url nor image_path")
        if fetched.status != "ok":
            return fetched
        try:
            sniff(fetched.body, self._config.max_pixels)  # refuse HTML and bombs before they cross the cluster
        except BadImage as err:
            return Fetched(err.status, err.detail, fetched.http_status)
        return fetched


class DetectFaces:
    """Ray Data callable class: decodes each fetched image once and detects faces. Images that decode go on,
    with their digest and original bytes, to the driver, which stores each distinct one once."""

    def __init__(self, faces: FacesConfig, max_pixels: int, session=None):
        self._detector = build_detector(faces, session)
        self._fit = faces.input_size
        self._max_pixels = max_pixels

    def __call__(self, batch: pa.Table) -> pa.Table:
        rows = batch.to_pylist()
        images, decoded_rows = [], []
        for row in rows:
            body = row.pop("body")
            if row["status"] != "ok":
                continue
            try:
                decoded = decode_rgb(body, self._max_pixels, fit=self._fit)
            except BadImage as err:
                row.update(status=err.status, detail=err.detail)
                continue
            width, height = decoded.full_size
            row.update(sha256=hashlib.sha256(body).hexdigest(), format=sniff_format(body), width=width,
                       height=height, num_bytes=len(body), body=body)
            images.append(decoded)
            decoded_rows.append(row)
        found = self._detector.detect([image.pixels for image in images]) if images else []
        for row, image, faces in zip(decoded_rows, images, found, strict=True):
            full = in_full_photo(faces, image.scale, row["width"], row["height"])
            row.update(summarize(full, row["width"], row["height"]))
            row["has_face"] = row["face_count"] > 0
        return pa.Table.from_pylist(rows, schema=RESULTS)


def pending_candidates(run: RunFolder) -> pa.Table:
    """Candidates without a committed `downloads` row, after clearing what a killed run left half-written."""
    run.discard_uncommitted(("faces", "images"), commit_table="downloads")
    done = run.table("downloads").read(["media_id"]).column("media_id")
    candidates = run.table("candidates").read(["media_id", "media_url", "image_path"])
    return candidates.filter(pc.invert(pc.is_in(candidates.column("media_id"), done)))


def curate_stream(config: Config, pending: pa.Table) -> Iterator[pa.Table]:
    """The streaming pipeline over `pending`; yields result tables as they come out of the detectors."""
    blocks = pending.to_batches(max_chunksize=config.download.batch_size)
    dataset = ray.data.from_arrow([pa.Table.from_batches([b]) for b in blocks])
    fetched = dataset.map_batches(
        FetchImages,
        fn_constructor_kwargs={"config": config.download},
        compute=ray.data.ActorPoolStrategy(size=config.download.workers),
        batch_size=None,
        batch_format="pyarrow",
        num_cpus=FETCH_CPUS,
    )
    detected = fetched.map_batches(
        DetectFaces,
        fn_constructor_kwargs={"faces": config.faces, "max_pixels": config.download.max_pixels},
        compute=actor_pool("faces", config.faces.actors, config.faces.gpus_per_actor, len(blocks), config.ray),
        # Whole blocks per call (Ray Data's per-call cost is paid once per block); the detector runs the
        # model on chunks of faces.batch_size inside.
        batch_size=None,
        batch_format="pyarrow",
        num_cpus=1,
        num_gpus=config.faces.gpus_per_actor,
    )
    yield from detected.iter_batches(batch_size=None, batch_format="pyarrow")


def run_curate(config: Config, run: RunFolder, runtime: Runtime) -> dict:
    UrlPolicy.of(config.download)  # a bad entry stops the stage here, not inside every download actor
    pending = pending_candidates(run)
    statuses: Counter[str] = Counter()
    with_face = 0
    for results in curate_into(run, config, pending):
        statuses.update(results.column("status").to_pylist())
        with_face += pc.sum(pc.fill_null(results.column("has_face"), False)).as_py() or 0
    return {"posts": pending.num_rows, "statuses": dict(statuses), "with_face": with_face}


def curate_into(run: RunFolder, config: Config, pending: pa.Table) -> Iterator[pa.Table]:
    """Streams `pending` through the pipeline and commits it group by group; yields each committed group."""
    if not pending.num_rows:
        return
    store = ImageStore(run)
    progress = Progress("curate", pending.num_rows, "posts")
    for results in groups(tally(curate_stream(config, pending), progress, len), COMMIT_EVERY):
        _commit(run, store, results)
        yield results


def _commit(run: RunFolder, store: ImageStore, results: pa.Table) -> None:
    """One group's new images, faces and downloads; `downloads` goes last and marks the group's posts done."""
    ok = results.filter(pc.equal(results.column("status"), "ok"))
    key = group_key("d-", results.column("media_id").to_pylist())
    rows = {
        "images": store.new_rows(ok.select(IMAGES.names)),
        "faces": ok.select(FACES.names),
        "downloads": results.select(DOWNLOADS.names),
    }
    run.commit_unit(key, rows, commit_table="downloads")
