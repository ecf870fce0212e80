"""Tokens for links: unguessable, URL-safe, stored only as their hash."""

from __future__ import annotations

from workflows.tokens import hash_token, new_token, new_tokens, well_formed


def test_tokens_made_together_are_each_like_one_made_alone() -> None:
    alone, _ = new_token()
    tokens, hashes = new_tokens(500)
    assert len(tokens) == len(hashes) == 500
    assert len(set(tokens)) == 500
    assert {len(token) for token in tokens} == {len(alone)}
    assert all(well_formed(token) for token in tokens)
    assert hashes == [hash_token(token) for token in tokens]
    assert not set(tokens) & set(hashes)


def test_tokens_made_together_differ_from_one_batch_to_the_next() -> None:
    first, _ = new_tokens(50)
    second, _ = new_tokens(50)
    assert not set(first) & set(second)
    assert new_tokens(0) == ([], []) and new_tokens(-1) == ([], [])
