"""The API docs page works on a store network with no internet: no CDN assets."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from central.api import create_app
from central.db import make_engine


def test_docs_page_serves_its_own_assets(tmp_path):
    client = TestClient(create_app(make_engine(f"sqlite:///{tmp_path / 'c.db'}")))
    page = client.get("/docs")
    assert page.status_code == 200
    assert not re.search(r"https?://", page.text.replace(str(client.base_url), "")), page.text
    for asset in re.findall(r'"(/static-offline-docs/[^"]+)"', page.text):
        r = client.get(asset)
        assert r.status_code == 200 and len(r.content) > 1000, asset
    assert client.get("/openapi.json").json()["info"]["title"] == "Exteros API"
