"""Unguessable tokens for links; only their SHA-256 is ever stored."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets

TOKEN_BYTES = 24  # 192 bits
TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9_-]{16,128}$")
_TOKEN_CHARS = TOKEN_BYTES * 4 // 3
"""The length of a token: base64 spells every 3 bytes in 4 characters, and 24 bytes need
no padding."""


def new_token() -> tuple[str, str]:
    """A fresh URL-safe token and the hash to store for it."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    return token, hash_token(token)


def new_tokens(count: int) -> tuple[list[str], list[str]]:
    """``count`` fresh tokens, each as `new_token` makes one, and the hashes to store for
    them, in the same order.

    The randomness of all of them is drawn in one call and spelled in one encoding: a
    share with a group of ten thousand makes ten thousand tokens. Each token is still its
    own ``TOKEN_BYTES`` of the system's random source; as ``TOKEN_BYTES`` is a multiple of
    3, the text of the whole draw is the texts of its slices put end to end."""
    if count <= 0:
        return [], []
    text = base64.urlsafe_b64encode(secrets.token_bytes(TOKEN_BYTES * count)).decode("ascii")
    tokens = [text[start : start + _TOKEN_CHARS] for start in range(0, len(text), _TOKEN_CHARS)]
    sha256 = hashlib.sha256
    return tokens, [sha256(token.encode()).hexdigest() for token in tokens]


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def well_formed(token: str) -> bool:
    return bool(TOKEN_SHAPE.match(token))


assert TOKEN_BYTES % 3 == 0, "new_tokens slices one encoding: keep TOKEN_BYTES a multiple of 3"
