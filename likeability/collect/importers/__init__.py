"""Importers: existing data (instaloader folders, manifests) -> the same users/posts tables as collection."""
