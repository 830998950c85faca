"""Final models: each family's best trial refitted on the whole training split, given calibrated probabilities,
scored once on the test split, and saved in the run with everything needed to use it on a new photo."""

from __future__ import annotations

import json
import pickle
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV

from likeability.config import Config
from likeability.run import RunFolder
from likeability.schemas import BACKBONE_LAYERS
from likeability.tune.evaluation import held_out_metrics
from likeability.tune.families import build_estimator, positive_probability, ranking_scores
from likeability.tune.features import LabelledFeatures, MissingInputError
from likeability.tune.folds import Folds


@dataclass(frozen=True)
class FinalModel:
    """A fitted model with its feature spec: new photos must be embedded by the same backbone, weights and layer."""

    family: str
    backbone: str
    layer: str
    weights: str  # embed.weights when the features were made: imagenet, random, or a .pth path
    mirrored: bool  # trained with mirror copies
    params: dict[str, Any]
    metrics: dict[str, Any]  # cv_ap, test figures with their intervals (held_out_metrics), confusion
    estimator: ClassifierMixin

    @property
    def name(self) -> str:
        return f"{self.family} on {self.backbone} {self.layer}"

    def p_good(self, features: np.ndarray) -> np.ndarray:
        """P(good) for each row of `features` ([photos, width] of this model's backbone layer)."""
        return positive_probability(self.estimator, self._checked(features))

    def ranking_score(self, features: np.ndarray) -> np.ndarray:
        """Higher = more likely good: the SVM's margin (before Platt scaling, which can flatten every P(good)
        to the base rate on a small training split), the forest's vote share."""
        features = self._checked(features)
        if isinstance(self.estimator, CalibratedClassifierCV):
            return self.estimator.calibrated_classifiers_[0].estimator.decision_function(features)
        return ranking_scores(self.family, self.estimator, features)

    def _checked(self, features: np.ndarray) -> np.ndarray:
        width = BACKBONE_LAYERS[self.backbone][self.layer]
        features = np.asarray(features, dtype=np.float32)
        if features.ndim != 2 or features.shape[1] != width:
            raise ValueError(
                f"the {self.family} model takes {self.backbone} {self.layer} features, [photos, {width}]; "
                f"got shape {features.shape}"
            )
        return features


def fit_final_models(
    config: Config,
    run: RunFolder,
    backbone: str,
    train: LabelledFeatures,
    test: LabelledFeatures,
    folds: Folds,
    best: dict[str, dict[str, Any]],
) -> list[dict[str, Any]]:
    """Refit each family's best trial (`best`, from the sweep of `backbone`'s features) on all of `train`, score it
    on `test` (originals), write `models/<backbone>/<family>.pkl` and the backbone's part of the `final_models`
    table; returns its rows."""
    if len(test) == 0:
        raise MissingInputError(f"the labels table in {run.location} has no test photos; run the labels stage again")
    rows = []
    for family, trial in best.items():
        fit_rows = np.flatnonzero(~train.mirrored | trial["mirrored"])  # originals, and mirrors when it used them
        estimator = _estimator(family, trial["params"], config, folds.partition(fit_rows))
        estimator.fit(train.layers[trial["layer"]][fit_rows], train.label[fit_rows])
        unscored = FinalModel(
            family=family,
            backbone=backbone,
            layer=trial["layer"],
            weights=config.embed.weights,
            mirrored=trial["mirrored"],
            params=trial["params"],
            metrics={},
            estimator=estimator,
        )
        features = test.layers[trial["layer"]]
        scores = held_out_metrics(test.label, unscored.p_good(features), unscored.ranking_score(features),
                                  test.username, config.sweeps.seed)
        model = replace(unscored, metrics={"cv_ap": trial["mean_ap"], **scores})
        path = f"models/{backbone}/{family}.pkl"
        run.write_bytes(path, pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL))
        rows.append({
            "family": family, "backbone": backbone, "layer": model.layer, "mirrored": model.mirrored,
            "params": json.dumps(model.params), **model.metrics, "model_path": path,
        })
    run.table("final_models").write_part(backbone, rows)
    return rows


def load_final_model(
    run: RunFolder, family: str | None = None, backbone: str | None = None, layer: str | None = None
) -> FinalModel:
    """The final model with the best cross-validated average precision, among those of `family`, `backbone` and
    `layer` when given (chosen on the training split: the test split only scores what was chosen).

    Models are pickles written by this run's own sweeps stage: load only runs you (or your pipeline) made.
    """
    rows = run.table("final_models").read().to_pylist()
    if not rows:
        raise MissingInputError(f"no final models in {run.location}; run the sweeps stage first")
    matching = [r for r in rows if family in (None, r["family"]) and backbone in (None, r["backbone"])
                and layer in (None, r["layer"])]
    if not matching:
        have = sorted(f"{r['family']} ({r['backbone']})" for r in rows)
        raise KeyError(f"no final {family or ''} model{f' on {backbone}' if backbone else ''} in {run.location}; "
                       f"it has {have}")
    row = max(matching, key=lambda r: r["cv_ap"])
    data = run.read_bytes(row["model_path"])
    if data is None:
        raise MissingInputError(f"{row['model_path']} is missing from {run.location}; run the sweeps stage again")
    return pickle.loads(data)


def _estimator(
    family: str, params: dict[str, Any], config: Config, splits: list[tuple[np.ndarray, np.ndarray]]
) -> ClassifierMixin:
    estimator = build_estimator(family, params, config.sweeps.seed, n_jobs=config.sweeps.forest_cpus_per_trial)
    if family == "random_forest":
        return estimator  # its vote shares are already probabilities
    # Platt scaling on out-of-fold margins from the sweep's own grouped folds (ensemble=False: one sigmoid on
    # top of one SVM refitted on everything), so no photo calibrates a margin it helped to fit.
    return CalibratedClassifierCV(estimator, method="sigmoid", cv=splits, ensemble=False)
