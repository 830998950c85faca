"""The HTML page being built: sections in order, the files they link to, and the page's frame and style."""

from __future__ import annotations

import html

from likeability.report.ranking import THUMB
from likeability.run import RunFolder

FOLDER = "report"


class Page:
    """The page being built: its sections in order and the files (plots, thumbnails) it links to."""

    def __init__(self) -> None:
        self.sections: list[str] = []
        self.assets: dict[str, bytes] = {}

    def figure(self, name: str, png: bytes, alt: str) -> str:
        self.assets[name] = png
        return f'<img src="{name}" alt="{html.escape(alt)}">'

    def section(self, title: str, body: str) -> None:
        self.sections.append(f"<section><h2>{html.escape(title)}</h2>\n{body}\n</section>")

    def write(self, run: RunFolder) -> str:
        for name, data in self.assets.items():
            run.write_bytes(f"{FOLDER}/{name}", data)
        run.write_text(f"{FOLDER}/index.html", _HTML.replace("@BODY@", "\n".join(self.sections)))
        return run.uri(FOLDER, "index.html")


# The inline script only counts images that failed to load, so a browser test can check the page.
_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>likeability report</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
table { border-collapse: collapse; margin: 1em 0; } td, th { border: 1px solid #ccc; padding: 3px 8px; }
td.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; } .missing { color: #a00; } .note { color: #555; font-style: italic; }
.study { font-style: italic; } .grid { display: flex; flex-wrap: wrap; gap: 1em; }
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
