"""API keys: where they come from, and the decorators that make a view need one."""

import functools
import hmac
import os
import re

from flask import current_app, request
from werkzeug.datastructures import WWWAuthenticate
from werkzeug.exceptions import Forbidden, Unauthorized

BEARER_TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")  # RFC 6750's b64token
KEYS_VARIABLE = "RECOMMENDER_API_KEYS"


def load_api_keys(keys_file=None):
    """The API keys of ``keys_file`` (one a line, ``#`` comments) or ``$RECOMMENDER_API_KEYS``.

    Raises
    ------
    ValueError
        When the file holds none, or a key has characters a bearer token cannot carry.
    """
    if keys_file:
        with open(keys_file, encoding="utf-8") as lines:
            keys = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
        if not keys:
            raise ValueError(f"{keys_file} holds no API keys")
    else:
        keys = [key.strip() for key in os.environ.get(KEYS_VARIABLE, "").split(",") if key.strip()]
    for key in keys:
        if not BEARER_TOKEN.fullmatch(key):  # never echo the key itself
            raise ValueError("an API key has characters a bearer token cannot carry (RFC 6750)")
    return tuple(keys)


def check_api_key():
    """401 unless ``Authorization: Bearer <key>`` names one of the configured API keys."""
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    given = given.strip().encode()
    # Every key is compared, each in constant time, so timing tells neither which key nor how much matched.
    matches = [hmac.compare_digest(given, key.encode()) for key in current_app.config["API_KEYS"]]
    if scheme.lower() != "bearer" or not any(matches):
        raise Unauthorized(
            "a valid 'Authorization: Bearer <API key>' header is required", www_authenticate=WWWAuthenticate("bearer")
        )


def write_route(view):
    """The view changes state: it needs an API key whenever keys are configured."""
    @functools.wraps(view)
    def checked(*args, **kwargs):
        if current_app.config["API_KEYS"]:
            check_api_key()
        return view(*args, **kwargs)
    return checked


def read_route(view):
    """The view reads data: it needs an API key when keys are configured and PROTECT_READS is set."""
    @functools.wraps(view)
    def checked(*args, **kwargs):
        if current_app.config["API_KEYS"] and current_app.config["PROTECT_READS"]:
            check_api_key()
        return view(*args, **kwargs)
    return checked


def admin_route(view):
    """An operator's view: disabled (403) when no keys are configured, else it needs one."""
    @functools.wraps(view)
    def checked(*args, **kwargs):
        if not current_app.config["API_KEYS"]:
            raise Forbidden("admin routes are disabled: no API keys are configured")
        check_api_key()
        return view(*args, **kwargs)
    return checked
