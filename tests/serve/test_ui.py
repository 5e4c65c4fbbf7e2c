"""The dashboard's contract over HTTP (no browser): who gets in, the headers every page
carries, and that what a caller wrote into the registry is shown as text."""

from __future__ import annotations

import json
import re

import httpx
import pytest

from modelphase.registry.monitoring import MonitorStore
from modelphase.serve.ui import COOKIE, CSP
from serve.harness import DETECTOR, FORECASTER, Live

HOSTILE = "<script>alert('owned')</script>"


def _client(live: Live) -> httpx.Client:
    """A client with no token and no redirects followed."""
    return httpx.Client(base_url=live.url, timeout=30.0, follow_redirects=False)


@pytest.mark.parametrize("path", ["/ui", "/ui/oncall", f"/ui/model/{FORECASTER}"])
def test_without_a_token_every_view_redirects_to_the_login_page(live: Live, path: str) -> None:
    with _client(live) as client:
        answer = client.get(path)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/ui/login"


def test_the_root_redirects_to_the_dashboard(live: Live) -> None:
    with _client(live) as client:
        answer = client.get("/")
    assert (answer.status_code, answer.headers["location"]) == (303, "/ui")


def test_a_bad_or_revoked_token_gets_a_401_page(live: Live) -> None:
    assert live.setup is not None
    with _client(live) as client:
        for token in ("mp_not-a-token", live.setup.revoked):
            answer = client.get("/ui", headers={"authorization": f"Bearer {token}"})
            assert answer.status_code == 401, token
            assert answer.headers["content-type"].startswith("text/html")
            assert token not in answer.text  # nothing about the token goes back
            client.cookies.set(COOKIE, token)
            assert client.get("/ui").status_code == 401
            client.cookies.clear()
        login = client.post("/ui/login", data={"token": "mp_not-a-token"})
        assert login.status_code == 401
        assert COOKIE not in login.cookies


def test_login_sets_a_strict_http_only_cookie_that_opens_the_views(live: Live) -> None:
    assert live.setup is not None
    with _client(live) as client:
        form = client.get("/ui/login")
        assert form.status_code == 200
        assert 'name="token"' in form.text
        answer = client.post("/ui/login", data={"token": live.setup.viewer})
        assert (answer.status_code, answer.headers["location"]) == (303, "/ui")
        cookie = answer.headers["set-cookie"]
        assert "HttpOnly" in cookie
        assert "SameSite=strict" in cookie
        assert "Path=/ui" in cookie
        for path in ("/ui", "/ui/oncall", f"/ui/model/{FORECASTER}"):
            page = client.get(path)
            assert page.status_code == 200, (path, page.text)
        out = client.post("/ui/logout")
        assert out.status_code == 303
        assert client.get("/ui").status_code == 303  # the cookie is gone


def test_a_token_in_the_query_moves_into_the_cookie(live: Live) -> None:
    assert live.setup is not None
    with _client(live) as client:
        answer = client.get("/ui/oncall", params={"token": live.setup.viewer})
        assert (answer.status_code, answer.headers["location"]) == (303, "/ui/oncall")
        assert client.get("/ui/oncall").status_code == 200


def test_every_page_has_a_restrictive_csp_and_no_script(live: Live) -> None:
    with _client(live) as client:
        pages = [client.get("/ui/login"), client.get("/ui", headers=live.headers())]
    for page in pages:
        assert page.headers["content-security-policy"] == CSP
        assert page.headers["x-content-type-options"] == "nosniff"
        assert "<script" not in page.text
    assert "script-src" not in CSP
    assert "default-src 'none'" in CSP
    assert "unsafe" not in CSP


def test_the_executive_view_names_every_production_model_and_version(live: Live) -> None:
    with live.client() as client:
        served = client.get("/v1/models").json()["models"]
        page = client.get("/ui").text
    assert {m["name"] for m in served} == {FORECASTER, DETECTOR}
    for model in served:
        version = model["aliases"]["production"]["version"]
        row = re.search(rf"<tr><td><a href=\"/ui/model/{model['name']}\">.*?</tr>", page)
        assert row is not None, model["name"]
        assert f"<td>{version}</td>" in row.group(0)


def test_what_callers_wrote_is_escaped(live: Live) -> None:
    assert live.setup is not None
    with live.setup.registry() as reg:
        reg.register("hostile", json.dumps({}).encode(), owners=[HOSTILE], spec={"x": HOSTILE})
        MonitorStore(reg).record_health(FORECASTER, 1, HOSTILE, {"mase": 0.9})
    with live.client() as client:
        pages = [client.get("/ui").text, client.get("/ui/model/hostile").text]
    for page in pages:
        assert HOSTILE not in page
        assert "&lt;script&gt;alert(&#x27;owned&#x27;)&lt;/script&gt;" in page


def test_an_unknown_model_is_a_404_page_only_after_the_token(live: Live) -> None:
    with _client(live) as client:
        assert client.get("/ui/model/nope").status_code == 303
        answer = client.get("/ui/model/nope", headers=live.headers())
    assert answer.status_code == 404
    assert "No model nope" in answer.text


def test_nothing_under_ui_writes(live: Live) -> None:
    """The views answer GET only; the only POSTs are login and logout."""
    with live.client() as client:
        for path in ("/ui", "/ui/oncall", f"/ui/model/{FORECASTER}"):
            assert client.post(path).status_code == 405
    routes = [r for r in live.app.router.routes if getattr(r, "path", "").startswith("/ui")]
    posts = sorted(r.path for r in routes if "POST" in getattr(r, "methods", ()))
    assert posts == ["/ui/login", "/ui/logout"]
