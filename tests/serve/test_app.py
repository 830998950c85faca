"""The Serve application over real HTTP on loopback, and its page in headless Chromium."""

import asyncio
import io
from pathlib import Path

import aiohttp
import pytest
import yaml
from PIL import Image
from playwright.sync_api import sync_playwright
from ray import serve
from ray.serve.schema import ServeDeploySchema

from helpers import chromium, free_port
from likeability.cli import main
from likeability.config import ConfigError
from likeability.serve.app import build_app, serve_settings, start
from likeability.simulator.images import render_jpeg

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
UPLOAD_LIMIT_MB = 0.25


@pytest.fixture(scope="module")
def service(demo_run) -> str:
    settings = serve_settings(str(demo_run[0]), [
        f"serve.port={free_port()}", "serve.max_replicas=1", f"serve.max_upload_mb={UPLOAD_LIMIT_MB}",
        "serve.cpus_per_replica=0.5",
    ])
    url = start(str(demo_run[0]), settings)
    yield url
    serve.shutdown()


async def post_all(url: str, bodies: list[bytes]) -> list[tuple[int, dict]]:
    async with aiohttp.ClientSession() as session:
        async def one(body: bytes) -> tuple[int, dict]:
            async with session.post(f"{url}predict", data=body) as answer:
                return answer.status, await answer.json()
        return await asyncio.gather(*(one(body) for body in bodies))


def person(media_id: int = 10**9) -> bytes:
    return render_jpeg(4, media_id, "outdoor", 320)


def test_photos_sent_together_are_each_judged_as_alone(service):
    photos = [person(10**9 + i) for i in range(8)]
    together = asyncio.run(post_all(service, photos))
    alone = asyncio.run(post_all(service, photos[:1]))
    assert [status for status, _ in together] == [200] * 8
    verdict = together[0][1]
    assert verdict["faces"] and len(verdict["scores"]) == 2 and len(verdict["likeable"]) == 5
    assert verdict["scores"][0]["p_good"] == pytest.approx(alone[0][1]["scores"][0]["p_good"], abs=1e-5)


@pytest.mark.parametrize("body, status, says", [
    (b"a shopping list, not a photo", 415, "not a photo this service can read"),
    (render_jpeg(4, 10**9 + 1, "meme", 320), 422, "no face found"),
    (b"", 400, "no photo"),
    (bytes(int(UPLOAD_LIMIT_MB * 2**20) + 1), 413, f"over the limit of {UPLOAD_LIMIT_MB} MB"),
])
def test_bad_input_gets_a_4xx_with_a_json_error_and_the_replica_keeps_serving(service, body, status, says):
    ((got, answer), (after, _)) = asyncio.run(post_all(service, [body, person()]))
    assert got == status and says in answer["error"], answer
    assert after == 200


def test_thumbnails_of_test_photos_only_and_unknown_paths_get_404(service):
    async def get(path: str) -> tuple[int, str, bytes]:
        async with aiohttp.ClientSession() as session, session.get(f"{service}{path}") as answer:
            return answer.status, answer.content_type, await answer.read()

    ((_, verdict),) = asyncio.run(post_all(service, [person()]))
    status, kind, jpeg = asyncio.run(get(f"photos/{verdict['likeable'][0]['sha256']}.jpg"))
    assert (status, kind) == (200, "image/jpeg") and max(Image.open(io.BytesIO(jpeg)).size) <= 180
    assert asyncio.run(get(f"photos/{'0' * 64}.jpg"))[0] == 404
    status, kind, body = asyncio.run(get("admin"))
    assert (status, kind) == (404, "application/json") and b"no such page" in body


def test_the_page_shows_the_face_the_scores_and_the_neighbours_of_an_uploaded_photo(service, tmp_path):
    photo, meme = tmp_path / "me.jpg", tmp_path / "meme.jpg"
    photo.write_bytes(person())
    meme.write_bytes(render_jpeg(4, 10**9 + 1, "meme", 320))
    with sync_playwright() as playwright:
        browser = chromium(playwright)
        page = browser.new_page(viewport={"width": 1200, "height": 1400})
        page.goto(service)
        page.set_input_files("#photo", str(photo))
        page.wait_for_selector("body[data-state=judged]", timeout=120_000)
        rows = page.locator("#scores tr")
        assert rows.count() == 2 and "fine-tuned" in rows.nth(1).inner_text()
        assert 0 <= float(rows.nth(0).locator(".p-good").inner_text()) <= 1
        assert page.locator("#photo-frame .face").count() == int(page.evaluate("document.body.dataset.faces")) >= 1
        page.wait_for_function("[...document.querySelectorAll('#likeable img, #unlikeable img')]"
                               ".every(img => img.complete && img.naturalWidth > 0)")
        assert page.locator("#likeable figure").count() == page.locator("#unlikeable figure").count() == 5
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "serve.png"), full_page=True)  # kept, for a person to look at

        big, notes = tmp_path / "big.jpg", tmp_path / "notes.jpg"
        big.write_bytes(bytes(int(UPLOAD_LIMIT_MB * 2**20) + 1))
        notes.write_text("a shopping list, not a photo")
        for upload, says in ((meme, "no face found"), (notes, "not a photo this service can read"),
                             (big, f"photos up to {UPLOAD_LIMIT_MB} MB are judged")):
            page.set_input_files("#photo", str(upload))
            page.wait_for_selector("body[data-state=error]")
            assert says in page.locator("#error").inner_text()
            assert page.locator("#result").is_hidden()
            page.evaluate("document.body.dataset.state = 'ready'")
        browser.close()


def test_serve_takes_only_serve_settings_and_names_a_run_that_is_not_one(demo_run, tmp_path, capsys):
    assert main(["serve", "--run", str(demo_run[0]), "--set", "faces.score_threshold=0.5"]) == 2
    assert "serve takes serve.* settings only" in capsys.readouterr().err
    assert main(["serve", "--run", str(tmp_path / "nothing")]) == 2
    assert "is not a likeability run folder" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="needs run=RUN"):
        build_app({"serve.port": "8001"})


def test_the_shipped_serve_deploy_config_is_valid_for_serve(demo_run):
    config = yaml.safe_load((REPO / "configs" / "serve.yaml").read_text())
    ServeDeploySchema.model_validate(config)
    (application,) = config["applications"]
    assert application["import_path"] == "likeability.serve.app:build_app"
    args = {**application["args"], "run": str(demo_run[0])}  # the shipped run is on S3; any run builds the same
    assert build_app(args) is not None
