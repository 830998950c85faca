import json

import numpy as np
import pytest
from sklearn.calibration import CalibratedClassifierCV
from sklearn.metrics import average_precision_score

from likeability.config import Config, EmbedConfig
from likeability.run import RunFolder
from likeability.tune.features import MissingInputError, load_labelled_features
from likeability.tune.final_models import fit_final_models, load_final_model
from likeability.tune.folds import grouped_folds
from likeability.tune.synthetic import planted_features, write_run

BACKBONE = "mobilenet_v2"
CONFIG = Config(embed=EmbedConfig(backbone=BACKBONE))
BEST = {  # what a sweep's best.json holds, trimmed to what the refit reads
    "linear_svc": {"layer": "pool", "mirrored": True, "params": {"C": 1e-3}, "mean_ap": 0.91},
    "sgd_svm": {"layer": "pool", "mirrored": False, "params": {"alpha": 1e-3, "eta0": 1e-2}, "mean_ap": 0.86},
    "random_forest": {"layer": "pool", "mirrored": True, "params": {"n_estimators": 40}, "mean_ap": 0.74},
}


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    run = RunFolder(str(tmp_path_factory.mktemp("run")))
    write_run(run, planted_features(users=40, photos_per_user=6, widths={"pool": 1280}), BACKBONE)
    data = load_labelled_features(run, BACKBONE, ["pool"])
    train, test = data.training(), data.test_originals()
    folds = grouped_folds(train, count=3, group_by="user", seed=0)
    fit_final_models(CONFIG, run, BACKBONE, train, test, folds, BEST)
    return run, test


@pytest.mark.parametrize("family", sorted(BEST))
def test_each_family_is_refitted_saved_and_scored_once_on_the_test_originals(fitted, family):
    run, test = fitted
    row = next(r for r in run.table("final_models").read().to_pylist() if r["family"] == family)
    model = load_final_model(run, family)
    trial = BEST[family]
    assert (model.backbone, model.layer, model.weights) == (BACKBONE, "pool", "imagenet")
    assert (model.mirrored, model.params) == (trial["mirrored"], trial["params"])
    assert (row["mirrored"], json.loads(row["params"]), row["model_path"]) == (
        trial["mirrored"], trial["params"], f"models/{BACKBONE}/{family}.pkl"
    )
    assert model.metrics == {key: row[key] for key in model.metrics} and model.metrics["cv_ap"] == trial["mean_ap"]

    p_good = model.p_good(test.layers["pool"])
    assert p_good.shape == (60,) and ((0 <= p_good) & (p_good <= 1)).all()
    # The saved model is the one that was scored: its ranking scores give the recorded test AP again.
    assert average_precision_score(test.label, model.ranking_score(test.layers["pool"])) == pytest.approx(row["test_ap"])
    assert sum(row["confusion"]) == 60 and row["confusion"][0] + row["confusion"][3] == round(60 * row["test_accuracy"])
    # Half the test photos are good, so chance is 0.5 for all three figures; the planted signal is learnable.
    assert row["test_ap"] > 0.75 and row["test_roc_auc"] > 0.75 and row["test_accuracy"] > 0.6


@pytest.mark.parametrize("family", ["linear_svc", "sgd_svm"])
def test_svms_get_one_platt_sigmoid_over_one_refit_on_the_whole_training_split(fitted, family):
    run, _ = fitted
    model = load_final_model(run, family)
    assert isinstance(model.estimator, CalibratedClassifierCV) and model.estimator.method == "sigmoid"
    (calibrated,) = model.estimator.calibrated_classifiers_
    # 30 training users x 6 photos, doubled by mirror copies when the best trial used them.
    assert calibrated.estimator.n_samples_fit_ == (360 if BEST[family]["mirrored"] else 180)


def test_without_a_family_the_best_cross_validated_model_is_loaded(fitted):
    # Chosen on the training split: choosing by test AP would let the test split pick the model it then scores.
    run, _ = fitted
    rows = run.table("final_models").read().to_pylist()
    assert load_final_model(run).family == max(rows, key=lambda r: r["cv_ap"])["family"] == "linear_svc"


def test_p_good_refuses_features_of_another_width(fitted):
    run, _ = fitted
    model = load_final_model(run, "linear_svc")
    with pytest.raises(ValueError, match=r"takes mobilenet_v2 pool features, \[photos, 1280\]; got shape \(2, 4096\)"):
        model.p_good(np.zeros((2, 4096), np.float32))


def test_loading_names_what_is_missing(fitted, tmp_path):
    with pytest.raises(MissingInputError, match="no final models .* run the sweeps stage first"):
        load_final_model(RunFolder(str(tmp_path)))
    with pytest.raises(KeyError, match=r"no final svm model .* it has \['linear_svc \(mobilenet_v2\)', 'random_forest "
                                       r"\(mobilenet_v2\)', 'sgd_svm \(mobilenet_v2\)'\]"):
        load_final_model(fitted[0], "svm")


def test_the_ranking_survives_where_platt_scaling_flattens_every_probability(tmp_path):
    # Pure noise on a handful of training photos: the sigmoid learns the base rate, and every P(good) is
    # (nearly) the same, but the SVM's margins still order the photos.
    run = RunFolder(str(tmp_path))
    write_run(run, planted_features(users=12, photos_per_user=4, widths={"pool": 1280}, strength=0.0), BACKBONE)
    data = load_labelled_features(run, BACKBONE, ["pool"])
    train, test = data.training(), data.test_originals()
    fit_final_models(CONFIG, run, BACKBONE, train, test, grouped_folds(train, count=3, group_by="user", seed=0),
                     {"linear_svc": BEST["linear_svc"]})
    model = load_final_model(run, "linear_svc")
    p_good, margins = model.p_good(test.layers["pool"]), model.ranking_score(test.layers["pool"])
    assert np.ptp(p_good) < 0.05
    assert len(np.unique(np.round(margins, 9))) == len(margins)
    svm = model.estimator.calibrated_classifiers_[0].estimator
    assert np.array_equal(margins, svm.decision_function(test.layers["pool"]))
