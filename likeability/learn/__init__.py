"""Learning on the features: labels and the grouped split, and scoring new photos with a finished run."""
