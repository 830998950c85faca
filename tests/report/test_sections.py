"""Pieces of the report's sections that read numbers for people."""

from __future__ import annotations

from likeability.report.sections import readable_params


def test_parameters_read_as_a_person_writes_them():
    assert readable_params('{"C": 0.0001}') == "C = 1e-4"
    assert readable_params('{"alpha": 1e-05, "eta0": 0.1}') == "alpha = 1e-5, eta0 = 0.1"
    assert readable_params('{"C": 100000.0}') == "C = 1e5"
    assert readable_params('{"n_estimators": 500, "max_features": "sqrt"}') == "n_estimators = 500, max_features = sqrt"

