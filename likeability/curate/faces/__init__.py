"""Face detectors that tell whether a photo shows a person."""
