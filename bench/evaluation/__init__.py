"""Real-footage evaluation: true visits from MOT ground truth, visit matching, detection and
identity metrics, and runners for the Exteros pipeline and a naive Ultralytics loop.

``bench/accuracy.py`` is the command; the modules here are pure logic plus the runners, so the
scoring can be unit-tested on small synthetic tables (tests/eval/).
"""
