"""Reads an iCal feed with an independent parser (PyPI `icalendar`) and prints what a calendar
app would show, as JSON: the calendar's name and zone, and per event its UID, SEQUENCE,
STATUS, SUMMARY and the start and end as instants (UTC) and as wall-clock times in `zone`.

    python3 read_ical.py FEED.ics ZONE
"""
import json
import sys
from zoneinfo import ZoneInfo

import icalendar


def main() -> None:
    path, zone = sys.argv[1], ZoneInfo(sys.argv[2])
    with open(path, "rb") as f:
        calendar = icalendar.Calendar.from_ical(f.read())
    events = []
    for event in calendar.walk("VEVENT"):
        start = event.decoded("DTSTART")
        end = event.decoded("DTEND")
        if start.tzinfo is None:
            raise SystemExit(f"floating time in {event['UID']}")
        events.append({
            "uid": str(event["UID"]),
            "sequence": int(event.get("SEQUENCE", 0)),
            "status": str(event.get("STATUS", "")),
            "summary": str(event["SUMMARY"]),
            "start_utc": start.astimezone(ZoneInfo("UTC")).isoformat(),
            "start_local": start.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
            "end_local": end.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
        })
    print(json.dumps({
        "name": str(calendar.get("X-WR-CALNAME", "")),
        "zone": str(calendar.get("X-WR-TIMEZONE", "")),
        "version": str(calendar.get("VERSION", "")),
        "events": events,
    }))


if __name__ == "__main__":
    main()
