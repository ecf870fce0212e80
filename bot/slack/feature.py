"""What a part of the Slack app brings: `/inkpost` subcommands, their help lines, listeners.

`bot.slack.app` gathers the features, answers `/inkpost NAME ARGS` with the feature that
owns NAME, and builds `help` from every feature's usage lines. A subcommand either returns
a message for the person who typed it or opens a modal with ``call.trigger_id`` and returns
None; a workflow error it raises is answered by `bot.slack.listeners.refuse`, as is one
raised by any listener a feature registers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.blocks import Message

if TYPE_CHECKING:
    from bot.slack.listeners import RefusingApp


@dataclass(frozen=True)
class Who:
    """The Slack user behind a request, in their workspace."""

    team_id: str
    user_id: str


@dataclass(frozen=True)
class Call:
    """One `/inkpost NAME ARGS` as typed, with what is needed to answer it."""

    who: Who
    args: str
    trigger_id: str
    channel_id: str
    client: AsyncWebClient


Subcommand = Callable[[Call], Awaitable[Message | None]]


@dataclass(frozen=True)
class Usage:
    usage: str
    what: str
    example: str


class Feature(Protocol):
    @property
    def usage(self) -> Sequence[Usage]:
        """The help lines of the feature's subcommands."""

    def subcommands(self) -> Mapping[str, Subcommand]: ...

    def register(self, app: RefusingApp) -> None:
        """Add the feature's action, view, shortcut and event listeners to ``app``."""
