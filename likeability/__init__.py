"""Predict how likeable a photo will be on Instagram."""

from pathlib import Path

# Installed, `likeability.actors` and `likeability.tune` are mapped from the checkout's top-level actors/ and
# tune/ folders (pyproject's package-dir). Imported straight from a checkout instead, as under
# `ray job submit --working-dir .` (which puts the shipped folder first on sys.path), the checkout root joins
# this package's search path so the same two names resolve to the same folders.
_checkout = Path(__file__).resolve().parent.parent
if (_checkout / "actors" / "__init__.py").is_file() and str(_checkout) not in __path__:
    __path__.append(str(_checkout))


def __getattr__(name: str):
    # `likeability.predict(...)` without making every `import likeability` load torch and the models.
    if name == "predict":
        from likeability.learn.predict import predict

        return predict
    if name == "explain_photos":
        from likeability.explain.photo import explain_photos

        return explain_photos
    raise AttributeError(f"module 'likeability' has no attribute {name!r}")
