"""Ray Tune sweeps (installed as likeability.tune)."""
