"""The HTML page being built: sections in order, its pictures inline, and the page's frame and style. One file
that opens from disk and can be sent to a colleague as it is."""

from __future__ import annotations

import base64
import html
from pathlib import Path

from likeability.report.ranking import THUMB
from likeability.run import RunFolder

FOLDER = "report"


def inline(data: bytes, mime: str) -> str:
    """A picture as a data URI, so the page needs no file beside it."""
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


class Page:
    """The page being built: its sections in order, pictures inline."""

    def __init__(self) -> None:
        self.sections: list[str] = []

    def figure(self, png: bytes, alt: str) -> str:
        return f'<img src="{inline(png, "image/png")}" alt="{html.escape(alt)}">'

    def section(self, title: str, body: str) -> None:
        self.sections.append(f"<section><h2>{html.escape(title)}</h2>\n{body}\n</section>")

    def write(self, run: RunFolder, out: Path | None = None) -> str:
        """Writes RUN/report/index.html, or `out` instead when given; returns where the page went."""
        text = _HTML.replace("@BODY@", "\n".join(self.sections))
        if out is not None:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(text)
            return str(out)
        run.write_text(f"{FOLDER}/index.html", text)
        return run.uri(FOLDER, "index.html")


# The inline script only counts images that failed to load, so a browser test can check the page.
_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>likeability report</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
table { border-collapse: collapse; margin: 1em 0; } td, th { border: 1px solid #ccc; padding: 3px 8px; }
td.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; } .missing { color: #a00; } .note { color: #555; font-style: italic; }
.study { font-style: italic; } .grid { display: flex; flex-wrap: wrap; gap: 1em; align-items: flex-start; }
img { max-width: 100%; height: auto; } summary { cursor: pointer; font-weight: 600; margin: 0.5em 0; }
.sheet { display: grid; grid-template-columns: repeat(5, @THUMB@px); gap: 8px; }
figure { margin: 0; font-size: 12px; } figure img { width: @THUMB@px; height: @THUMB@px; object-fit: cover; }
pre { background: #f6f6f6; padding: 1em; overflow: auto; font-size: 12px; }
</style></head>
<body><h1>likeability: which photos get liked</h1>
@BODY@
<script>
window.addEventListener("load", () => {
  const broken = [...document.images].filter(img => !img.complete || img.naturalWidth === 0).length;
  document.body.dataset.images = document.images.length;
  document.body.dataset.brokenImages = broken;
});
</script>
</body></html>
""".replace("@THUMB@", str(THUMB))
