"""People per zone from tracked feet points (synthetic sightings, no model)."""

from __future__ import annotations

from calibration.people import Sighting, by_track, people_per_zone
from edge.config import parse_config


def test_people_per_zone_counts_each_track_once():
    cam = parse_config({"device_id": "d", "cameras": [{"camera_id": "c", "source": "x.mp4",
        "zones": [{"location": "left", "polygon": [[0, 0], [0.5, 0], [0.5, 1], [0, 1]]},
                  {"location": "right", "polygon": [[0.5, 0], [1, 0], [1, 1], [0.5, 1]]}]}]}
    ).cameras[0]  # fmt: skip
    w, h = 101, 101
    found = [
        Sighting(0.2, 1, 10, 50), Sighting(0.1, 1, 12, 50), Sighting(0.3, 1, 80, 50),  # both
        Sighting(0.0, 2, 20, 20), Sighting(0.5, 2, 22, 20),  # left only, seen twice
        Sighting(0.0, 3, 90, 90),  # right
    ]  # fmt: skip
    tracks = by_track(found)
    assert [s.t for s in tracks[1]] == [0.1, 0.2, 0.3]
    assert people_per_zone(tracks, cam, w, h) == {"left": 2, "right": 2}
