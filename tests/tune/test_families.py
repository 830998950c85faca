import pytest
from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier

from likeability.config import SweepsConfig
from likeability.tune.families import build_estimator, family_grid
from likeability.tune.synthetic import planted_features


def test_the_study_forest_grows_each_tree_on_a_bootstrap_of_every_row():
    assert family_grid("random_forest", SweepsConfig(forest_trees=7)) == [{"n_estimators": 7}]


@pytest.mark.parametrize("share, splitter, forest_class, named", [
    (0.1, "best", RandomForestClassifier, {}),
    (0.25, "best", RandomForestClassifier, {}),
    (0.5, "random", ExtraTreesClassifier, {"splitter": "random"}),
])
def test_a_subsampled_forest_grows_each_tree_on_its_share_of_the_rows(share, splitter, forest_class, named):
    data = planted_features(users=40, photos_per_user=10, widths={"fc6": 32}, test_fraction=0.0, mirror=False)
    features, labels = data.layers["fc6"], data.label
    (params,) = family_grid("random_forest", SweepsConfig(forest_trees=5, forest_max_samples=share,
                                                          forest_splitter=splitter))
    assert params == {"n_estimators": 5, "max_samples": share, **named}
    forest = build_estimator("random_forest", params, seed=0).fit(features, labels)
    assert isinstance(forest, forest_class)
    # A tree's root holds the rows drawn for it, each counted as often as it was drawn.
    drawn = [tree.tree_.weighted_n_node_samples[0] for tree in forest.estimators_]
    assert drawn == [round(share * len(labels))] * 5
    assert forest.score(features, labels) > 0.6  # it still learns the planted signal
