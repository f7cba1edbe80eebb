"""Accuracy bench: the eval sets' figures for our engine and its peers (see ``bench.accuracy``)."""
