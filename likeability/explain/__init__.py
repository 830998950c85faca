"""The explain stage: what the model likes, from attributes of the test photos."""
