"""Evaluation as a library: labelled sets, the figures of the eval README, end-to-end scoring."""
