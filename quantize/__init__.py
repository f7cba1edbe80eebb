"""INT8 post-training quantization of model bundles, with an accuracy gate that decides what is served.

``python -m quantize`` writes ``<bundle>/int8/<backend>/`` and its ``quantization.json`` (the contract read by
``edge_runtime.artifacts``). See ``quantize.build.build`` for the programmatic entry point.
"""
