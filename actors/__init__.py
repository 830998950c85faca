"""Ray actors for distributed collection (installed as likeability.actors)."""
