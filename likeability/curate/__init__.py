"""Curation: the follower filter, policy-checked downloads, face detection, and the curate stage."""
