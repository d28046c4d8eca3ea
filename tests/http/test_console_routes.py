"""The console's routes: the page and its files, their security headers, and a page that runs only its own code."""

from html.parser import HTMLParser

import pytest
import schemathesis
from schemathesis.specs.openapi.checks import content_type_conformance, status_code_conformance

from app import create_app
from recommender.http.console_routes import ASSETS


class PageParts(HTMLParser):
    """What the page is made of: scripts, styles, the controls and their labels."""

    def __init__(self):
        super().__init__()
        self.scripts, self.stylesheets, self.inline, self.controls, self.labelled = [], [], [], [], set()
        self.open_label, self.in_script = 0, False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "style" in attrs or any(name.startswith("on") for name in attrs):
            self.inline.append((tag, attrs))  # the CSP would block these: the page must not need them
        if tag == "script":
            self.scripts.append(attrs.get("src"))
            self.in_script = True
        elif tag == "style":
            self.inline.append((tag, attrs))
        elif tag == "link" and attrs.get("rel") == "stylesheet":
            self.stylesheets.append(attrs["href"])
        elif tag == "label":
            self.open_label += 1
            if "for" in attrs:
                self.labelled.add(attrs["for"])
        elif tag in ("input", "select", "textarea"):
            self.controls.append(attrs.get("id") if not self.open_label else "wrapped")

    def handle_endtag(self, tag):
        if tag == "label":
            self.open_label -= 1
        elif tag == "script":
            self.in_script = False

    def handle_data(self, data):
        if self.in_script and data.strip():
            self.inline.append(("script", data))


def page_parts(client):
    parts = PageParts()
    parts.feed(client.get("/").get_data(as_text=True))
    return parts


def test_the_page_is_served_with_a_policy_allowing_only_its_own_scripts_and_styles(client):
    page = client.get("/")
    assert page.status_code == 200 and page.mimetype == "text/html"
    policy = dict(part.strip().split(" ", 1) for part in page.headers["Content-Security-Policy"].split(";"))
    assert policy["default-src"] == "'none'"
    assert policy["script-src"] == policy["style-src"] == policy["connect-src"] == "'self'"
    assert page.headers["X-Content-Type-Options"] == "nosniff"


def test_the_page_needs_nothing_inline_and_nothing_from_elsewhere(client):
    parts = page_parts(client)
    assert parts.inline == []
    assert parts.scripts == ["/console/console.js", "/console/status.js"]
    assert parts.stylesheets == ["/console/console.css"]
    for url in parts.scripts + parts.stylesheets:
        assert client.get(url).status_code == 200, url


def test_every_control_of_the_page_has_a_label(client):
    parts = page_parts(client)
    assert len(parts.controls) >= 6
    unlabelled = [control for control in parts.controls if control != "wrapped" and control not in parts.labelled]
    assert unlabelled == []


@pytest.mark.parametrize("filename", sorted(ASSETS))
def test_each_file_is_served_with_its_type_and_the_same_headers(client, filename):
    served = client.get(f"/console/{filename}")
    assert served.status_code == 200 and served.mimetype == ASSETS[filename]
    assert served.headers["Content-Security-Policy"] == client.get("/").headers["Content-Security-Policy"]
    assert len(served.data) > 100


@pytest.mark.parametrize("filename", ["index.html", "nope.js", "..%2Fconsole_routes.py", "%2e%2e"])
def test_any_other_file_is_a_json_404(client, filename):
    missing = client.get(f"/console/{filename}")
    assert missing.status_code == 404 and missing.is_json and "error" in missing.get_json()


def test_the_page_is_open_when_reads_need_a_key(tiny_engine):
    client = create_app(tiny_engine, {"API_KEYS": ("k",), "PROTECT_READS": True}).test_client()
    assert client.get("/").status_code == client.get("/console/console.js").status_code == 200
    assert client.get("/1/ratings").status_code == 401


@pytest.mark.parametrize("path, filename, status", [
    ("/", None, 200), ("/console/{filename}", "console.css", 200), ("/console/{filename}", "other.css", 404),
])
def test_the_answers_are_as_documented(app, client, path, filename, status):
    parameters = {"filename": filename} if filename else {}
    response = client.get(path.format(**parameters))
    assert response.status_code == status
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    case = schema[path]["GET"].Case(path_parameters=parameters)
    case.validate_response(response, checks=[status_code_conformance, content_type_conformance])
