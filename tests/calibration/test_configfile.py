"""Round-trip editing of the edge YAML."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from calibration.configfile import ConfigDocument
from edge.config import ConfigError, load_config


def test_unchanged_document_dumps_identically(config_file: Path):
    doc = ConfigDocument(config_file)
    assert doc.dump() == config_file.read_text()


def test_rename_keeps_the_entry_and_its_comment(config_file: Path):
    doc = ConfigDocument(config_file)
    zone = {"location": "renamed", "polygon": [[0, 0], [1, 0], [1, 1]], "product_areas": []}
    doc.set_zones("cam-1", [{**zone, "exit_grace_s": 3, "confirm_s": 0.5}])
    text = doc.dump()
    assert re.search(r"location: renamed +# whole store", text), text
    assert "confirm_s" not in text  # a default that was not in the file stays out
    assert "product_areas: []" in text
    doc.save()
    assert load_config(config_file).cameras[0].zones[0].location == "renamed"


def test_invalid_document_is_not_written(config_file: Path):
    before = config_file.read_text()
    doc = ConfigDocument(config_file)
    doc.set_zones("cam-1", [{"location": "a", "polygon": [[0, 0], [1, 0]]},
                            {"location": "a", "polygon": [[0, 0], [1, 0], [0, 1]]}])  # fmt: skip
    with pytest.raises(ConfigError) as err:
        doc.save()
    assert any(e.startswith("cameras[0].zones[0].polygon: needs at least 3 points")
               for e in err.value.errors)  # fmt: skip
    assert config_file.read_text() == before


def test_missing_and_broken_files(tmp_path: Path):
    with pytest.raises(ConfigError, match="not found"):
        ConfigDocument(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("cameras: [\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        ConfigDocument(bad)
