"""What the report reads of a run's learning stages, each table and each layer's test features read once."""

from __future__ import annotations

from likeability.run import RunFolder
from likeability.tune.features import LabelledFeatures, load_labelled_features


class RunResults:
    def __init__(self, run: RunFolder):
        self.run = run
        self.sweeps = run.table("sweep_results").read().to_pylist()
        self.finals = run.table("final_models").read().to_pylist()
        self._test_features: dict[tuple[str, str], LabelledFeatures] = {}

    def test_originals(self, backbone: str, layer: str) -> LabelledFeatures:
        """The test photos' features, read once per layer however many models and sections use them."""
        if (backbone, layer) not in self._test_features:
            features = load_labelled_features(self.run, backbone, [layer]).test_originals()
            self._test_features[backbone, layer] = features
        return self._test_features[backbone, layer]
