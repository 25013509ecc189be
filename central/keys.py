"""API keys: high-entropy random strings, stored only as their SHA-256.

A key has 256 bits of randomness, so an unsalted SHA-256 cannot be reversed
or brute-forced, and hashing lets the lookup use an index. The stored and the
computed hash are still compared with ``hmac.compare_digest``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

KEY_PREFIX = "ext_"


def generate_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def display_prefix(key: str) -> str:
    """The first characters, enough to tell keys apart in listings; not a secret."""
    return key[:12]


def same_hash(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def parse_authorization(header: str | None) -> str | None:
    """``KEY`` or ``Bearer KEY`` -> KEY; None when absent or empty."""
    if not header:
        return None
    value = header.strip()
    if value[:7].lower() == "bearer ":
        value = value[7:].strip()
    return value or None
