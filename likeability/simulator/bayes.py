"""What the simulator's planted world allows a model to learn: its Bayes accuracy on a run's test split.

A post's likes per follower come from its kind, its account's effect and noise (see `world`); only the kind is
in the picture. The Bayes rule calls a photo good when P(good | its kind) > 0.5, and is right with probability
max(P, 1 - P): averaged over the test photos, that is the Bayes accuracy, what no model of the photos can beat
in expectation. P(good | kind) is read off all the run's labelled photos of that kind, so it includes what the
labels' median, the follower filter and the likes' rounding do to the planted effects.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from likeability.simulator.world import KINDS, World


@dataclass(frozen=True)
class BayesRule:
    p_good: dict[str, float]  # P(good | kind) among the labelled photos
    accuracy: float  # the Bayes accuracy: the rule's expected accuracy on the test photos
    realised: float  # how often the rule was right on this test split (sampling noise about the expectation)

    @property
    def good_kinds(self) -> tuple[str, ...]:
        return tuple(kind for kind, p in self.p_good.items() if p > 0.5)


def bayes_rule(world: World, labels: pa.Table) -> BayesRule:
    """The rule from all labelled photos of `labels` (media_id, label, split), measured on its test split."""
    kinds = world.kinds_of(labels.column("media_id").to_pylist())
    good = labels.column("label").to_numpy().astype(bool)
    test = np.asarray(labels.column("split").to_pylist()) == "test"
    p_good = np.zeros(len(KINDS))
    for kind in np.unique(kinds):
        p_good[kind] = good[kinds == kind].mean()
    test_kinds = kinds[test]
    return BayesRule(
        p_good={KINDS[kind]: float(p_good[kind]) for kind in np.unique(kinds)},
        accuracy=float(np.mean(np.maximum(p_good[test_kinds], 1 - p_good[test_kinds]))),
        realised=float(np.mean((p_good[test_kinds] > 0.5) == good[test])),
    )
