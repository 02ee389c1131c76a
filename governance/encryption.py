"""Connector secrets at rest: Fernet tokens under the keys of ``CONNECTOR_SECRET_KEYS``.

The setting holds one or more Fernet keys. The first encrypts; every one decrypts, so a key
is rotated without downtime: put the new key first, keep the old one after it, run
``manage.py reencrypt_connector_secrets``, then drop the old key.
"""

from __future__ import annotations

from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

KEYS_SETTING = "CONNECTOR_SECRET_KEYS"


class SecretsUnavailable(Exception):
    """A secret cannot be stored or read with the keys configured; ``message`` says why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def generate_key() -> str:
    return Fernet.generate_key().decode()


def configured_keys() -> list[str]:
    return [str(k).strip() for k in getattr(settings, KEYS_SETTING, None) or [] if str(k).strip()]


def key_problems(keys: Sequence[str]) -> list[str]:
    """What is wrong with the keys themselves (not whether any are set)."""
    problems = []
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key.encode())
        except (ValueError, TypeError):
            problems.append(
                f"{KEYS_SETTING}: key {position} is not a Fernet key (32 url-safe base64-encoded bytes; "
                "make one with `python manage.py generate_connector_secret_key`)."
            )
    return problems


_cache: dict[tuple[str, ...], MultiFernet] = {}


def _box() -> MultiFernet:
    keys = tuple(configured_keys())
    if not keys:
        raise SecretsUnavailable(f"{KEYS_SETTING} is not set, so connector secrets cannot be stored or read.")
    box = _cache.get(keys)
    if box is None:
        problems = key_problems(keys)
        if problems:
            raise SecretsUnavailable(problems[0])
        box = MultiFernet([Fernet(k.encode()) for k in keys])
        _cache.clear()
        _cache[keys] = box
    return box


def encrypt(plaintext: str) -> str:
    return _box().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _box().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise SecretsUnavailable(
            f"A stored connector secret cannot be decrypted with the keys in {KEYS_SETTING} "
            "(was the key it was encrypted with removed?)."
        ) from exc


def reencrypt(token: str) -> str:
    """The same secret encrypted with the first key (what rotation needs)."""
    try:
        return _box().rotate(token.encode()).decode()
    except InvalidToken as exc:
        raise SecretsUnavailable(
            f"A stored connector secret cannot be decrypted with the keys in {KEYS_SETTING}."
        ) from exc


def encrypted_with_first_key(token: str) -> bool:
    keys = configured_keys()
    if not keys:
        return False
    try:
        Fernet(keys[0].encode()).decrypt(token.encode())
    except (InvalidToken, ValueError):
        return False
    return True
