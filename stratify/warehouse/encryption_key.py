"""The warehouse encryption key: found at connect time, never stored, logged or passed on.

The place configuration only names where the key lives (`encryption.key_env`,
`encryption.airflow_variable`); this module is the one place that reads it.
Each task or command reads it for itself when it opens the warehouse, so
the key never travels through XCom, the command line or a configuration file.
Messages here name the variable to set, never its value.
"""

from __future__ import annotations

import os
import sys

from stratify.config import PlaceConfig
from stratify.errors import WarehouseKeyError  # noqa: F401 (raised here; defined with stratify's other errors)

MIN_KEY_LENGTH = 16


def warehouse_key(cfg: PlaceConfig) -> str:
    """The key for `cfg.warehouse`: the environment variable first, then the Airflow variable.

    Inside Airflow the value is registered with Airflow's secrets masker, so
    it is redacted from task logs should anything ever print it.
    """
    enc = cfg.encryption
    if enc is None:
        raise WarehouseKeyError(f"the warehouse {cfg.warehouse} is not configured as encrypted")
    key = (os.environ.get(enc.key_env) or "").strip() if enc.key_env else ""
    where = f"the environment variable {enc.key_env}" if enc.key_env else ""
    if not key and enc.airflow_variable:
        key = _airflow_variable(enc.airflow_variable)
        where = f"the Airflow variable {enc.airflow_variable}"
    if not key:
        wanted = " or ".join(
            w for w in (
                f"the environment variable {enc.key_env}" if enc.key_env else "",
                f"the Airflow variable {enc.airflow_variable} (in the secrets backend)" if enc.airflow_variable else "",
            ) if w
        )
        raise WarehouseKeyError(
            f"the warehouse {cfg.warehouse} is encrypted but no key was found: set {wanted} "
            "(the data controller holds the key; it never goes in the configuration file)"
        )
    if len(key) < MIN_KEY_LENGTH:
        raise WarehouseKeyError(
            f"the key in {where} is too short (fewer than {MIN_KEY_LENGTH} characters); use a long random key, "
            "e.g. from `python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
        )
    _mask_in_airflow(key)
    return key


def _airflow_variable(name: str) -> str:
    """An Airflow variable's value through the configured secrets backends, or '' if not set."""
    try:
        from airflow.sdk import Variable
    except ImportError:
        return ""
    try:
        return (Variable.get(name, default=None) or "").strip()
    except Exception:  # not found, or no Airflow API reachable here: say which variable, not why
        return ""


def _mask_in_airflow(key: str) -> None:
    """Tell Airflow's log masker about the key, only when running inside Airflow (no import cost otherwise)."""
    if "airflow.sdk" not in sys.modules:
        return
    try:
        from airflow.sdk.log import mask_secret

        mask_secret(key, "stratify_warehouse_key")
    except Exception:
        pass


def scrub(text: str, key: str) -> str:
    """`text` with every occurrence of the key replaced, for error messages."""
    return text.replace(key, "***") if key else text
