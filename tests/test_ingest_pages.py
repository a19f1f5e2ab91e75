"""The calculator page is reachable from the sidecar's root, keeping the landing URL's UTM values."""

import pytest
from falcon import testing

from analytics.db import upgrade


@pytest.fixture
def client(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'pages.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    upgrade(url)
    from ingest_service.app import create_app

    return testing.TestClient(create_app())


def test_root_redirects_to_the_calculator_with_utm(client):
    r = client.simulate_get("/", query_string="utm_source=newsletter&utm_medium=email")
    assert r.status_code == 302
    assert r.headers["location"] == "/static/ai-job-impact-calculator.html?utm_source=newsletter&utm_medium=email"
    r = client.simulate_get("/ai-job-impact-calculator.html")
    assert (r.status_code, r.headers["location"]) == (302, "/static/ai-job-impact-calculator.html")


def test_calculator_page_is_served(client):
    r = client.simulate_get("/static/ai-job-impact-calculator.html")
    assert r.status_code == 200 and b"tracker.js" in r.content
