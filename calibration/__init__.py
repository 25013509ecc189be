"""Calibration: snapshot each camera, draw zones and product areas, preview them.

``exteros-calibrate snapshot|edit|preview``: installers take a picture from each
camera, draw where the table and the shelf are in a local web page, and look at
a rendered preview (optionally with a heatmap of where people stood) before the
edge device starts counting.
"""
