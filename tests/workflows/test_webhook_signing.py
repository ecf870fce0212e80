"""Signing webhooks as Standard Webhooks prescribes, and which addresses they may reach."""

from __future__ import annotations

import base64
import random
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from workflows.errors import InvalidInput
from workflows.webhooks.addresses import AddressPolicy, check_url
from workflows.webhooks.deliveries import BACKOFF, MAX_ATTEMPTS
from workflows.webhooks.signing import new_message_id, new_secret, signed_headers


def test_a_secret_is_whsec_and_32_random_bytes_in_base64() -> None:
    secret = new_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    assert new_secret() != secret and new_message_id() != new_message_id()


def test_signed_headers_verify_with_the_reference_library_and_only_for_that_body() -> None:
    secret, body = new_secret(), '{"type":"document.shared","data":{"title":"Zażółć"}}'
    headers = signed_headers(secret=secret, message_id="msg_1", at=datetime.now(UTC), body=body)
    assert set(headers) == {"webhook-id", "webhook-timestamp", "webhook-signature", "content-type"}
    assert headers["webhook-signature"].startswith("v1,")
    assert Webhook(secret).verify(body.encode(), headers)["data"]["title"] == "Zażółć"
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body.replace("Zażółć", "Zazolc").encode(), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body.encode(), {**headers, "webhook-id": "msg_2"})


def test_during_a_rotation_both_secrets_sign_and_either_receiver_verifies() -> None:
    old, new, stranger = new_secret(), new_secret(), new_secret()
    body = '{"type":"request.completed"}'
    headers = signed_headers(
        secret=new, also=[old], message_id="msg_1", at=datetime.now(UTC), body=body
    )
    assert len(headers["webhook-signature"].split(" ")) == 2
    assert Webhook(new).verify(body.encode(), headers) == {"type": "request.completed"}
    assert Webhook(old).verify(body.encode(), headers) == {"type": "request.completed"}
    with pytest.raises(WebhookVerificationError):
        Webhook(stranger).verify(body.encode(), headers)


def test_an_attempt_signed_long_ago_is_refused_by_receivers() -> None:
    secret, body = new_secret(), "{}"
    old = datetime.now(UTC) - timedelta(minutes=10)
    headers = signed_headers(secret=secret, message_id="msg_1", at=old, body=body)
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(secret).verify(body.encode(), headers)


@pytest.mark.parametrize(
    ("address", "nature"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("10.0.0.1", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("fd00::1", "private"),
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("100.64.0.1", "non-public"),
    ],
)
def test_non_public_addresses_are_refused_by_default(address: str, nature: str) -> None:
    assert AddressPolicy().refusal(address) == (
        f"{address.removeprefix('::ffff:')} is a {nature} address, which webhooks may not reach"
    )
    assert AddressPolicy(allow_private=True).refusal(address) is None


def test_public_addresses_and_allowed_networks_are_reached() -> None:
    policy = AddressPolicy.of(allow_private=False, networks=[" 10.1.0.0/16", "fd00::/8"])
    assert policy.refusal("93.184.216.34") is None
    assert policy.refusal("2606:4700::1111") is None
    assert policy.refusal("10.1.200.3") is None and policy.refusal("fd12::1") is None
    assert policy.refusal("10.2.0.1") is not None
    with pytest.raises(InvalidInput, match="'10.1.0.0/33' is not a network"):
        AddressPolicy.of(allow_private=False, networks=["10.1.0.0/33"])


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("https://erp.example.com/hooks?x=1", None),
        ("HTTPS://ERP.example.com:8443/h", None),
        ("https://erp.example.com:0/h", "names port 0"),
        ("https://erp.example.com:99999/h", "is not a URL"),
        ("https://erp.example.com/a b", "may not contain spaces"),
        ("javascript:alert(1)", "not an http or https URL"),
        ("https://" + "a" * 2000 + ".com/", "longer than 2000 characters"),
    ],
)
def test_urls_are_checked_before_they_are_kept(url: str, problem: str | None) -> None:
    if problem is None:
        assert check_url(url, AddressPolicy()) == url
    else:
        with pytest.raises(InvalidInput, match=problem):
            check_url(url, AddressPolicy())


def test_the_back_off_grows_with_jitter_and_the_attempts_are_bounded() -> None:
    rng = random.Random(7)
    delays = [BACKOFF.delay(attempt, rng) for attempt in range(1, MAX_ATTEMPTS)]
    assert all(BACKOFF.base * 0.5 <= d for d in delays)
    assert all(d <= BACKOFF.cap * 1.5 for d in delays)
    assert delays[-1] > delays[0] * 50
    assert len({BACKOFF.delay(3, rng) for _ in range(5)}) == 5  # jittered
