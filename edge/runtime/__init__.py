"""Inference runtimes behind ``edge.detector.Detector``, one file each.

``openvino`` and ``onnx`` run Ultralytics' exports directly (no torch) with the shared
pre/post-processing of ``prepost``; ``ultralytics`` is the optional PyTorch backend;
``lookahead`` starts the next frames' inferences while the current one is tracked.
"""
