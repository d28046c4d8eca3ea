"""The web console: ``GET /`` serves a page that talks to this API from the browser.

The page, its script and its stylesheet are files of ``recommender/http/console/``, served
as they are (no build step, nothing from another origin). Their responses carry a
Content-Security-Policy that lets the page run only this app's own script and style, so a
data value that slipped into the page as markup could still run nothing.
"""

import os

from flask import Blueprint, send_from_directory
from werkzeug.exceptions import NotFound

CONSOLE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "console")
PAGE = "index.html"
# The files under /console/ and their content types: nothing else in the folder is served.
ASSETS = {
    "console.js": "text/javascript",
    "status.js": "text/javascript",
    "console.css": "text/css",
    "favicon.svg": "image/svg+xml",
}
CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "connect-src 'self'",  # the page's fetch() calls to this API
    "img-src 'self'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
))
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # Revalidated on every load (an ETag answers 304), so a redeployed console is seen at once.
    "Cache-Control": "no-cache",
}

bp = Blueprint("console", __name__)


@bp.after_request
def add_security_headers(response):
    response.headers.update(SECURITY_HEADERS)
    return response


@bp.get("/")
def page():
    """The console page."""
    return send_from_directory(CONSOLE_DIR, PAGE, mimetype="text/html")


@bp.get("/console/<filename>")
def asset(filename):
    """One of the console's files; any other name is 404."""
    if filename not in ASSETS:
        raise NotFound(f"the console has no file {filename[:100]!r}; it has {', '.join(ASSETS)}")
    return send_from_directory(CONSOLE_DIR, filename, mimetype=ASSETS[filename])


def openapi_parameters():
    """The console's path parameter, for the document's ``components/parameters``."""
    return {"filename": {
        "name": "filename", "in": "path", "required": True, "description": "A file of the console.",
        "schema": {"type": "string", "enum": list(ASSETS)},
    }}


def openapi_paths():
    """The console's routes as OpenAPI 3.0 path items, for ``recommender.http.openapi``."""
    def served(description, content_types):
        return {
            "description": description,
            "headers": {
                "X-Model-Version": {"$ref": "#/components/headers/X-Model-Version"},
                **{name: {"schema": {"type": "string"}} for name in SECURITY_HEADERS},
            },
            "content": {content_type: {"schema": {"type": "string"}} for content_type in content_types},
        }

    # Files are sent with an ETag: a browser revalidating its copy gets 304 and no body.
    not_modified = {"304": {"description": "Not modified since the ETag sent in If-None-Match."}}

    def errors(*statuses):
        return {status: {"$ref": f"#/components/responses/{status}"} for status in (*statuses, "405", "500")}

    return {
        "/": {"get": {
            "operationId": "console",
            "summary": "The web console: a page for people, in a browser (docs/console.md).",
            "responses": {"200": served("The console page.", ["text/html"]), **not_modified, **errors()},
        }},
        "/console/{filename}": {"get": {
            "operationId": "consoleAsset",
            "summary": "The console's own scripts, stylesheet and icon.",
            "parameters": [{"$ref": "#/components/parameters/filename"}],
            "responses": {
                "200": served("The file.", sorted(set(ASSETS.values()))), **not_modified, **errors("404"),
            },
        }},
    }
