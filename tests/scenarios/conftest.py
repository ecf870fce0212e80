"""Fixtures shared by the scenario modules."""

from tests.scenarios.slack_stage import stage

__all__ = ["stage"]
