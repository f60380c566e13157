"""Keep secrets out of run records: configs are scrubbed before they are stored or logged.

:meth:`TrainingConfig.to_dict` already leaves API keys out; this is the second line of
defence for everything else a run records (run-config files, dataset options, MLflow params):
keys that name a secret are dropped, credentials inside URLs are cut out, and values that look
like a key (long random tokens under a secret-sounding name) never get through.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from q_store.ml.config import SECRET_FIELDS

__all__ = ["is_secret_key", "scrub"]

_SECRET_NAME = re.compile(r"(api_?key|apikey|token|secret|password|passwd|credential|"
                          r"private_?key|auth)", re.IGNORECASE)


@lru_cache(maxsize=4096)
def is_secret_key(name: str) -> bool:
    """True for a key that names a secret (``quantum_api_key``, ``token``); a key naming the
    environment variable that holds one (``api_key_env``) is not a secret."""
    if name in SECRET_FIELDS:
        return True
    return bool(_SECRET_NAME.search(name)) and not name.lower().endswith("_env")


def _clean_url(value: str) -> str:
    if "://" not in value or "@" not in value:
        return value
    try:
        parts = urlsplit(value)
    except ValueError:
        return value
    if parts.username is None and parts.password is None:
        return value
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def scrub(value: Any) -> Any:
    """A copy of ``value`` (dicts, lists, scalars) without secret keys or URL credentials."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if isinstance(k, str) and is_secret_key(k):
                continue
            out[k] = scrub(v) if isinstance(v, dict | list | tuple | str) else v
        return out
    if isinstance(value, list | tuple):
        return [scrub(v) for v in value]
    if isinstance(value, str) and "@" in value:
        return _clean_url(value)
    return value
