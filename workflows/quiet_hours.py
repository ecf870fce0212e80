"""When reminders may reach people: between the organisation's quiet hours, in its zone.

Reminders to recipients and parties wait for the morning; state changes and notices to
staff never do. Times are whole hours of the organisation's wall clock, so a daylight-
saving change moves them with the clock rather than by an hour of UTC.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from storage.models import Organization
from workflows.errors import InvalidInput


def zone_of(organization: Organization) -> tzinfo:
    """The organisation's time zone; UTC when its name is unknown to this system."""
    try:
        return ZoneInfo(organization.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def check_zone(name: str) -> str:
    cleaned = name.strip()
    try:
        ZoneInfo(cleaned)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(
            f"'{cleaned}' is not a time zone: use a name like Europe/Warsaw or UTC"
        ) from None
    return cleaned


def check_hours(start: int, end: int) -> None:
    for hour in (start, end):
        if not 0 <= hour <= 23:
            raise InvalidInput(f"quiet hours are whole hours from 0 to 23, not {hour}")


def allowed(organization: Organization, at: datetime) -> bool:
    """Whether a reminder may go out at ``at``: from ``quiet_hours_start`` o'clock to
    ``quiet_hours_end`` o'clock local time (a window may wrap past midnight; equal hours
    mean any time)."""
    start, end = organization.quiet_hours_start, organization.quiet_hours_end
    hour = at.astimezone(zone_of(organization)).hour
    if start == end:
        return True
    if start < end:
        return start <= hour < end
    return hour >= start or hour < end


def send_from(organization: Organization, at: datetime) -> datetime:
    """The first moment from ``at`` on when a reminder may go out: ``at`` itself outside
    quiet hours, else the next ``quiet_hours_start`` o'clock local time, in UTC."""
    if allowed(organization, at):
        return at
    zone = zone_of(organization)
    local = at.astimezone(zone)
    start = time(organization.quiet_hours_start)
    day = local.date()
    if local.time() >= start:
        day += timedelta(days=1)
    return datetime.combine(day, start, tzinfo=zone).astimezone(UTC)


def local_day(organization: Organization, at: datetime) -> date:
    """The organisation's calendar day at ``at``."""
    return at.astimezone(zone_of(organization)).date()


def day_started(organization: Organization, at: datetime) -> bool:
    """Whether the organisation's working day (from ``quiet_hours_start``) has begun."""
    local = at.astimezone(zone_of(organization))
    return local.hour >= organization.quiet_hours_start
