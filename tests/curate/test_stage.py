"""The curate stage on a real local Ray: simulator photos and every kind of bad answer, streamed through
download, decode, storage and face detection; then a resume that fetches only what was missing."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow.parquet as pq
import pytest

from bad_image_server import OK_JPEG, bad_image_server
from image_files import jpeg
from likeability.config import Config, ConfigError, DownloadConfig, FacesConfig, SimulatorConfig
from likeability.curate.stage import run_curate
from likeability.images.store import ImageStore
from likeability.run import RunFolder
from likeability.runtime import Runtime
from likeability.simulator.server import SimulatorServer, serve_in_thread

NOW = datetime(2026, 11, 29, tzinfo=UTC)
RUNTIME = Runtime("http://unused", lambda: [])
BAD = {
    "b-ok": ("ok.jpg", "ok"),
    "b-copy": ("copy-of-ok.jpg", "ok"),  # the same bytes as b-ok: stored once
    "b-ext": ("wrong-extension.png", "ok"),
    "b-html": ("html.jpg", "not_an_image"),
    "b-empty": ("empty.jpg", "not_an_image"),
    "b-trunc": ("truncated.jpg", "corrupt"),
    "b-huge": ("huge.png", "too_many_pixels"),
    "b-big": ("big.jpg", "too_large"),
    "b-404": ("missing.jpg", "http_error"),
    "b-loop": ("loop-a", "redirect_loop"),
    "b-slow": ("slow.jpg", "timeout"),
}


def candidate(media_id: str, url: str | None = None, path: str | None = None) -> dict:
    return dict(media_id=media_id, username="u", like_count=1, followers_count=10, timestamp=NOW, media_url=url,
                image_path=path)


def photo_size(download: dict) -> tuple[int, int]:
    return download["width"], download["height"]


def config(**download) -> Config:
    # 1.5 s: the simulator may render two dozen photos at once on 2 cores; the slow server's 2 s still times out
    return Config(
        download=DownloadConfig(allowed_hosts=["127.0.0.1"], private_hosts=["127.0.0.1"], max_bytes=200_000,
                                read_timeout_seconds=1.5, max_retries=1, batch_size=8, **download),
        faces=FacesConfig(batch_size=8),
    )


@pytest.fixture(scope="module")
def simulator():
    server = SimulatorServer(SimulatorConfig(seed=3, accounts=4, image_size=320))
    with serve_in_thread(server) as url:
        yield server, url


def test_stream_records_every_status_stores_by_content_finds_faces_and_resumes(ray_cluster, simulator, tmp_path):
    sim, sim_url = simulator
    posts = [sim.world.post_at(i) for i in range(24)]
    local = tmp_path / "local.jpg"
    local.write_bytes(jpeg(100, 80))
    run = RunFolder(str(tmp_path / "run"))
    with bad_image_server(slow_seconds=2.0) as (bad, bad_url):
        rows = [candidate(str(p.media_id), f"{sim_url}/media/{p.media_id}.jpg") for p in posts]
        rows += [candidate(media_id, f"{bad_url}/{path}") for media_id, (path, _) in BAD.items()]
        rows += [candidate("local", path=str(local)), candidate("gone", path=str(tmp_path / "gone.jpg")),
                 candidate("file", "file:///etc/passwd")]
        run.table("candidates").write_part("all", rows)
        summary = run_curate(config(), run, RUNTIME)

        downloads = {r["media_id"]: r for r in run.table("downloads").read().to_pylist()}
        assert len(downloads) == len(rows) and summary["posts"] == len(rows)
        for media_id, (_, status) in BAD.items():
            assert downloads[media_id]["status"] == status, (media_id, downloads[media_id]["detail"])
        assert downloads["gone"]["status"] == "unreadable_file"
        assert downloads["file"]["status"] == "blocked_url"
        assert downloads["local"]["status"] == "ok" and (downloads["local"]["width"], downloads["local"]["height"]) \
            == (100, 80)
        digest = downloads["b-ok"]["sha256"]
        assert downloads["b-copy"]["sha256"] == digest
        stored = run.table("images").read(["sha256"]).column("sha256").to_pylist()
        assert sorted(stored) == sorted({d["sha256"] for d in downloads.values() if d["status"] == "ok"})
        assert ImageStore(run).get([digest]) == {digest: OK_JPEG}  # stored as fetched, once

        faces = {r["media_id"]: r for r in run.table("faces").read().to_pylist()}
        assert all(downloads[str(p.media_id)]["status"] == "ok" for p in posts), [
            (p.media_id, downloads[str(p.media_id)]["status"], downloads[str(p.media_id)]["detail"]) for p in posts]
        assert set(faces) == {m for m, d in downloads.items() if d["status"] == "ok"}
        for post in posts:  # photos in Instagram's shapes, some stored sideways: boxes in the upright photo
            found, width, height = faces[str(post.media_id)], *photo_size(downloads[str(post.media_id)])
            assert found["has_face"] == (post.kind != "meme"), (post.kind, found)
            for x1, y1, x2, y2 in found["boxes"]:
                assert 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height
        assert summary["with_face"] == sum(f["has_face"] for f in faces.values())

        # A crash after some groups committed: those groups' downloads parts are gone, their faces parts stay.
        table = run.table("downloads")
        lost_ids: set[str] = set()
        for key in sorted(table.parts())[: len(table.parts()) // 2]:
            lost_ids |= set(pq.read_table(f"{table.folder}/part-{key}.parquet", filesystem=run.fs)
                            .column("media_id").to_pylist())
            table.delete_part(key)
        before = sim.stats.image_requests
        resumed = run_curate(config(), run, RUNTIME)
        assert resumed["posts"] == len(lost_ids)
        assert sim.stats.image_requests - before == sum(1 for m in lost_ids if m.isdigit())
    again = run.table("downloads").read().column("media_id").to_pylist()
    assert sorted(again) == sorted(downloads)  # every post exactly once
    assert sorted(run.table("images").read(["sha256"]).column("sha256").to_pylist()) == sorted(stored)
    assert sorted(run.table("faces").read().column("media_id").to_pylist()) == sorted(faces)


def test_an_actor_pool_larger_than_the_cluster_is_refused_before_it_hangs(ray_cluster, tmp_path):
    run = RunFolder(str(tmp_path))
    run.table("candidates").write_part("all", [candidate("1", "http://127.0.0.1:9/x.jpg")])
    too_many = config().model_copy(update={"faces": FacesConfig(actors=3)})
    with pytest.raises(ConfigError, match=r"faces.actors=3: 3 actors \(1 CPU each\) cannot run at once on this Ray "
                       r"cluster, which has 2 CPUs"):
        run_curate(too_many, run, RUNTIME)
