"""`inkpost slack manifest`: the app Slack sets up is the app the code expects — every Web
API method the code calls has its scopes in the manifest, every event, shortcut and
command it listens for is subscribed, and the URLs follow INKPOST_PUBLIC_URL."""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from slack_sdk.web.async_client import AsyncWebClient
from typer.testing import CliRunner, Result

from bot.slack import manifest
from bot.slack.app import SlackConfig, features
from inkpost.cli import app
from storage.blobs import FileBlobStore
from storage.db import make_engine, make_session_factory
from workflows.context import Env

REPO = Path(__file__).resolve().parents[2]
SOURCES = ("bot", "inkpost", "web_sign", "workflows", "storage")
"""Every package that could call Slack."""
LISTENERS = "bot/slack"
APP_TOKEN = "xapp-1-A0APP-1-InkpostFakeAppToken"
APP_TOKEN_METHODS = frozenset({"apps.connections.open"})
"""Methods called with the app-level token (Socket Mode): its scope (connections:write) is
the token's, set when the token is generated, so the manifest does not ask for it."""


# -- what the source calls and listens for ----------------------------------------------------


@cache
def sdk_methods() -> dict[str, frozenset[str]]:
    """slack_sdk's client methods and the Web API methods each one calls."""
    found: dict[str, frozenset[str]] = {}

    def api_methods(name: str, seen: frozenset[str] = frozenset()) -> frozenset[str]:
        source = inspect.getsource(getattr(AsyncWebClient, name))
        called = set(re.findall(r'api_call\(\s*"([\w.]+)"', source))
        for helper in re.findall(r"self\.(\w+)\(", source):
            if helper in client_methods and helper not in seen | {name}:
                called |= api_methods(helper, seen | {name})
        return frozenset(called)

    client_methods = {
        name
        for name, value in vars(AsyncWebClient).items()
        if not name.startswith("_") and inspect.iscoroutinefunction(value) and name != "api_call"
    }
    for name in client_methods:
        found[name] = api_methods(name)
    return found


def python_files(*roots: str) -> Iterator[Path]:
    for root in roots:
        yield from sorted((REPO / root).rglob("*.py"))


def web_api_calls() -> dict[str, list[str]]:
    """Web API method -> where the source calls it (``client.chat_postMessage(...)``,
    ``client.api_call("chat.postMessage")``)."""
    calls: dict[str, list[str]] = {}
    for path in python_files(*SOURCES):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            where = f"{path.relative_to(REPO)}:{node.lineno}"
            name = node.func.attr
            if name == "api_call":
                first = node.args[0] if node.args else None
                assert isinstance(first, ast.Constant), f"{where}: api_call with a computed name"
                methods: frozenset[str] = frozenset({str(first.value)})
            elif name in sdk_methods():
                methods = sdk_methods()[name]
                assert methods, f"{where}: cannot tell which Web API methods {name} calls"
            else:
                continue
            for method in methods:
                calls.setdefault(method, []).append(where)
    return calls


def listeners() -> dict[str, set[str]]:
    """``event``, ``shortcut`` and ``command`` -> what bolt listeners are added for."""
    found: dict[str, set[str]] = {"event": set(), "shortcut": set(), "command": set()}
    for path in python_files(LISTENERS):
        module: Any = None
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in found
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id in ("app", "listeners")  # bolt's app, or its wrapper
                and node.args
            ):
                continue
            first = node.args[0]
            if isinstance(first, ast.Constant):
                value = first.value
            else:  # a constant by name: look it up in the module
                dotted = ".".join(path.relative_to(REPO).with_suffix("").parts)
                module = module or importlib.import_module(dotted)
                value = eval(ast.unparse(first), vars(module))
            found[node.func.attr].add(str(value))
    return found


# -- the scope mapping ------------------------------------------------------------------------


def test_every_web_api_method_the_code_calls_has_its_scopes_in_the_mapping() -> None:
    calls = web_api_calls()
    assert "chat.postMessage" in calls, "the scan found nothing: has the code moved?"
    known = set(manifest.WEB_API_SCOPES) | APP_TOKEN_METHODS
    missing = {method: calls[method] for method in sorted(set(calls) - known)}
    assert not missing, (
        f"Web API methods called without their scopes in bot/slack/manifest.py: {missing}"
    )


def test_the_mapping_lists_only_methods_the_code_calls() -> None:
    """A method nobody calls any more would ask installations for scopes they do not need."""
    known = set(manifest.WEB_API_SCOPES) | APP_TOKEN_METHODS
    assert sorted(known - set(web_api_calls())) == []


def test_every_listener_is_in_the_manifest() -> None:
    found = listeners()
    assert set(manifest.EVENTS) == found["event"]
    document = manifest.manifest(public_url="https://docs.example.test", socket_mode=False)
    features_ = document["features"]
    assert {s["callback_id"] for s in features_["shortcuts"]} == found["shortcut"]
    assert {c["command"] for c in features_["slash_commands"]} == found["command"]
    subscribed = set(document["settings"]["event_subscriptions"]["bot_events"])
    assert subscribed == {s.event for subs in manifest.EVENTS.values() for s in subs}


def test_bot_scopes_are_derived_from_what_the_code_needs() -> None:
    scopes = manifest.bot_scopes()
    assert scopes == sorted(set(scopes))
    assert scopes == ["app_mentions:read", "chat:write", "commands", "files:read", "im:history"]
    # The app-level token's scope is the token's, never the bot's.
    assert "connections:write" not in scopes
    assert manifest.missing_scopes(["chat:write", " commands", "im:history"]) == [
        "app_mentions:read",
        "files:read",
    ]


def test_the_usage_hint_names_every_subcommand(tmp_path: Path) -> None:
    engine = make_engine("sqlite+aiosqlite://")  # never connected
    env = Env(sessions=make_session_factory(engine), blobs=FileBlobStore(tmp_path))
    config = SlackConfig(bot_token="xoxb-1", signing_secret="s", public_url="https://x.test")
    names = {"help"} | {name for part in features(config, env) for name in part.subcommands()}
    document = manifest.manifest(public_url="https://docs.example.test", socket_mode=False)
    [command] = document["features"]["slash_commands"]
    assert set(command["usage_hint"].split(" | ")) == names


# -- the command ------------------------------------------------------------------------------


def run(env: dict[str, str | None], *args: str) -> Result:
    result = CliRunner().invoke(app, ["slack", "manifest", *args], env=env)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result


def urls_in(value: Any, path: str = "") -> dict[str, str]:
    """Every ``url``-like field of the manifest, by its path."""
    if isinstance(value, dict):
        found: dict[str, str] = {}
        for key, item in value.items():
            if key.endswith("url") and isinstance(item, str):
                found[f"{path}.{key}"] = item
            found.update(urls_in(item, f"{path}.{key}"))
        return found
    if isinstance(value, list):
        return {
            k: v for i, item in enumerate(value) for k, v in urls_in(item, f"{path}[{i}]").items()
        }
    return {}


def test_request_urls_follow_the_public_url() -> None:
    result = run({"INKPOST_PUBLIC_URL": "https://docs.example.test/inkpost/"})
    document = json.loads(result.stdout)
    assert result.stderr == ""
    assert urls_in(document) == {
        ".features.slash_commands[0].url": "https://docs.example.test/inkpost/slack/events",
        ".settings.event_subscriptions.request_url": "https://docs.example.test/inkpost/slack/events",
        ".settings.interactivity.request_url": "https://docs.example.test/inkpost/slack/events",
        ".settings.interactivity.message_menu_options_url": (
            "https://docs.example.test/inkpost/slack/events"
        ),
    }
    settings = document["settings"]
    assert settings["socket_mode_enabled"] is False
    assert settings["interactivity"]["is_enabled"] is True
    assert document["features"]["app_home"]["home_tab_enabled"] is True
    assert document["features"]["shortcuts"] == [
        {
            "name": "Save to Inkpost",
            "type": "message",
            "callback_id": "save_to_inkpost",
            "description": "Store this message's files as documents",
        }
    ]
    assert document["oauth_config"]["scopes"]["bot"] == manifest.bot_scopes()
    assert settings["event_subscriptions"]["bot_events"] == [
        "app_home_opened",
        "app_mention",
        "message.im",
    ]


def test_with_an_app_token_the_manifest_asks_for_socket_mode_and_names_no_url() -> None:
    document = json.loads(run({"INKPOST_SLACK_APP_TOKEN": APP_TOKEN}).stdout)
    assert document["settings"]["socket_mode_enabled"] is True
    assert urls_in(document) == {}
    assert document["settings"]["event_subscriptions"]["bot_events"]
    assert document["oauth_config"]["scopes"]["bot"] == manifest.bot_scopes()
    # --http overrides the token, --socket-mode works without one.
    assert json.loads(run({}, "--socket-mode").stdout)["settings"]["socket_mode_enabled"]
    forced = run(
        {"INKPOST_SLACK_APP_TOKEN": APP_TOKEN, "INKPOST_PUBLIC_URL": "https://a.test"}, "--http"
    )
    assert json.loads(forced.stdout)["settings"]["socket_mode_enabled"] is False


@pytest.mark.parametrize(
    ("env", "warning"),
    [
        ({}, "INKPOST_PUBLIC_URL is not set: the request URLs point at http://127.0.0.1:8080"),
        (
            {"INKPOST_PUBLIC_URL": "http://docs.example.test"},
            "Slack sends requests only to https:// URLs",
        ),
    ],
)
def test_urls_slack_cannot_use_are_warned_about_on_stderr(
    env: dict[str, str | None], warning: str
) -> None:
    result = run(env)
    assert result.stderr.startswith(f"warning: {warning}"), result.stderr
    json.loads(result.stdout)  # stdout still holds only the manifest
