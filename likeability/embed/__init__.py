"""Embedding: CNN backbones and their weights, the features of a batch of photos, and the embed stage."""
