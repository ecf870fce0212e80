"""Webhook endpoints and their deliveries, from the command line."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.cli.conftest import Cli, Office

SECRET = re.compile(r"whsec_[A-Za-z0-9+/=]+")
URL = "https://erp.example.com/hooks"


def _add(cli: Cli, *events: str, url: str = URL) -> dict[str, object]:
    args = [a for e in events for a in ("--event", e)]
    return cli.json("webhooks", "add", url, *args)


def test_adding_prints_the_secret_once_and_listing_never_does(cli: Cli, office: Office) -> None:
    result = cli.ok(
        "webhooks", "add", URL, "--event", "document.shared", "--event", "request.completed"
    )
    [secret] = SECRET.findall(result.stdout)
    assert "shown only now" in result.stdout
    listed = cli.ok("webhooks", "list").stdout
    assert URL in listed and "document.shared, request.completed" in listed
    assert secret not in listed
    [endpoint] = cli.json("webhooks", "list")
    assert "secret" not in endpoint and endpoint["enabled"] is True
    assert secret not in json.dumps(endpoint)


def test_a_bad_endpoint_is_refused_in_one_line_and_adds_nothing(cli: Cli, office: Office) -> None:
    assert cli.fails("webhooks", "add", URL, "--event", "document.lost").startswith(
        "error: unknown event 'document.lost': choose from document.shared"
    )
    assert cli.fails("webhooks", "add", "http://127.0.0.1:9000/", "--event", "document.shared") == (
        "error: 127.0.0.1 is a loopback address, which webhooks may not reach (an operator may "
        "allow it with INKPOST_WEBHOOK_ALLOW_PRIVATE or INKPOST_WEBHOOK_ALLOWED_NETWORKS)"
    )
    assert cli.count("webhook_endpoint") == 0


def test_the_operator_allows_private_addresses_in_the_settings(cli: Cli, office: Office) -> None:
    cli.ok(
        "webhooks",
        "add",
        "http://10.1.2.3/hooks",
        "--event",
        "document.shared",
        env={"INKPOST_WEBHOOK_ALLOWED_NETWORKS": "10.1.0.0/16"},
    )
    cli.ok(
        "webhooks",
        "add",
        "http://127.0.0.1:9000/hooks",
        "--event",
        "document.shared",
        env={"INKPOST_WEBHOOK_ALLOW_PRIVATE": "true"},
    )
    assert (
        cli.fails(
            "webhooks",
            "add",
            URL,
            "--event",
            "document.shared",
            env={"INKPOST_WEBHOOK_ALLOWED_NETWORKS": "ten.one"},
        )
        == "error: INKPOST_WEBHOOK_ALLOWED_NETWORKS: 'ten.one' is not a network like 10.1.0.0/16"
    )
    assert cli.count("webhook_endpoint") == 2


def test_sharing_queues_a_delivery_listed_with_its_status(
    cli: Cli, office: Office, pdf_file: Path
) -> None:
    endpoint = _add(cli, "document.shared")
    cli.ok("upload", str(pdf_file), "--client", str(office.client_id))
    cli.ok("share", "D-1", "--recipient", str(office.recipient_id))

    [delivery] = cli.json("webhooks", "deliveries")
    assert delivery["endpoint_id"] == endpoint["id"]
    assert delivery["event_type"] == "document.shared" and delivery["status"] == "pending"
    assert delivery["message_id"].startswith("msg_")
    assert cli.json("webhooks", "deliveries", "--status", "dead") == []
    assert "No deliveries." in cli.ok("webhooks", "deliveries", "--status", "sent").stdout
    assert cli.fails("webhooks", "deliveries", "--status", "lost").startswith(
        "error: unknown status 'lost'"
    )


def test_dead_deliveries_are_retried_by_id(cli: Cli, office: Office, pdf_file: Path) -> None:
    _add(cli, "document.shared")
    cli.ok("upload", str(pdf_file), "--client", str(office.client_id))
    cli.ok("share", "D-1", "--recipient", str(office.recipient_id))
    [delivery] = cli.json("webhooks", "deliveries")
    assert cli.fails("webhooks", "retry", str(delivery["id"])) == (
        f"error: only dead deliveries are retried: {delivery['id']} (pending)"
    )
    cli.execute(
        "UPDATE notification SET status = 'dead', attempts = 10 WHERE id = :id",
        {"id": delivery["id"]},
    )
    [dead] = cli.json("webhooks", "deliveries", "--status", "dead")
    assert cli.ok("webhooks", "retry", str(dead["id"])).stdout.strip() == (
        "1 delivery will be tried again."
    )
    [again] = cli.json("webhooks", "deliveries")
    assert again["status"] == "pending" and again["attempts"] == 0
    assert again["message_id"] == delivery["message_id"]
    assert cli.fails("webhooks", "retry", "999") == "error: no webhook delivery 999"
    assert cli.fails("webhooks", "retry").startswith("error: name the deliveries to retry")


def test_an_endpoint_is_turned_off_on_and_removed(cli: Cli, office: Office) -> None:
    endpoint = _add(cli, "document.shared")
    ident = str(endpoint["id"])
    assert cli.ok("webhooks", "disable", ident).stdout.strip() == f"Endpoint {ident} is off."
    [off] = cli.json("webhooks", "list")
    assert off["enabled"] is False and off["disabled_reason"] == "turned off by staff"
    assert cli.ok("webhooks", "enable", ident).stdout.strip() == f"Endpoint {ident} is on."
    assert cli.ok("webhooks", "remove", ident).stdout.strip() == (
        f"Endpoint {ident} removed; 0 deliveries cancelled."
    )
    assert cli.json("webhooks", "list") == []
    assert cli.fails("webhooks", "remove", ident) == f"error: no webhook endpoint {ident}"


def test_only_administrators_manage_webhooks(cli: Cli, office: Office) -> None:
    cli.ok("staff", "add", "Sam Member", "--email", "sam@acme.test")
    member = {"INKPOST_STAFF": "sam@acme.test"}
    assert cli.fails("webhooks", "add", URL, "--event", "document.shared", env=member) == (
        "error: only administrators may manage webhooks"
    )
    cli.ok("staff", "add", "Bo Boss", "--email", "bo@acme.test", "--role", "admin")
    cli.ok(
        "webhooks", "add", URL, "--event", "document.shared", env={"INKPOST_STAFF": "bo@acme.test"}
    )
    assert cli.count("webhook_endpoint") == 1


def test_a_secret_is_rotated_and_the_new_one_printed_once(cli: Cli, office: Office) -> None:
    made = _add(cli, "document.shared")
    ident = str(made["id"])
    result = cli.ok("webhooks", "rotate-secret", ident, "--overlap-hours", "2")
    [secret] = SECRET.findall(result.stdout)
    assert secret != made["secret"]
    assert "old secret signs beside it for 2 more hours" in result.stdout
    assert secret not in cli.ok("webhooks", "list").stdout
    at_once = cli.json("webhooks", "rotate-secret", ident, "--overlap-hours", "0")
    assert at_once["secret"] not in (secret, made["secret"])
    assert cli.fails("webhooks", "rotate-secret", "999") == "error: no webhook endpoint 999"
    assert "Invalid value for '--overlap-hours'" in cli.fails(
        "webhooks", "rotate-secret", ident, "--overlap-hours", "200"
    )
