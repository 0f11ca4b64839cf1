"""A CloudEvents consumer as a team writes one: kafka-python reads the topic committed
(read_committed), the CloudEvents SDK for Python parses every record in the content mode
given, and each event must equal its outbox row, once.

Usage: ce_consumer.py BROKERS TOPIC structured|binary ROWS_JSONL SOURCE

ROWS_JSONL holds one object per row: id, type, subject, time (RFC 3339), data, and for
the structured mode the extension attributes the relay adds (tenant). Prints
"N events equal their rows" and exits 0, or names the first difference and exits 1.
"""
import json
import sys
import time

from dateutil.parser import isoparse
from kafka import KafkaConsumer

from cloudevents.core.bindings.kafka import KafkaMessage, from_binary, from_structured
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent


def main() -> int:
    brokers, topic, mode, rows_path, source = sys.argv[1:6]
    with open(rows_path, encoding="utf-8") as f:
        rows = {r["id"]: r for r in map(json.loads, filter(str.strip, f))}
    parse = from_structured if mode == "structured" else from_binary
    consumer = KafkaConsumer(topic, bootstrap_servers=brokers.split(","), group_id=None,
                             isolation_level="read_committed", auto_offset_reset="earliest",
                             enable_auto_commit=False, consumer_timeout_ms=2000)
    seen = {}
    deadline = time.monotonic() + 60
    while len(seen) < len(rows) and time.monotonic() < deadline:
        for rec in consumer:
            msg = KafkaMessage(headers={k: v for k, v in rec.headers}, key=rec.key,
                               value=rec.value)
            event = parse(msg, JSONFormat(), CloudEvent)
            if event.get_id() in seen:
                print(f"event {event.get_id()} seen twice", file=sys.stderr)
                return 1
            seen[event.get_id()] = event
    consumer.close()
    for row_id, row in rows.items():
        event = seen.get(row_id)
        if event is None:
            print(f"no event for row {row_id} ({len(seen)} events read)", file=sys.stderr)
            return 1
        want = {"specversion": "1.0", "source": source, "type": row["type"],
                "subject": row["subject"], "time": isoparse(row["time"]), "data": row["data"],
                "datacontenttype": "application/json", "partitionkey": row["subject"]}
        if mode == "structured" and row.get("tenant") is not None:
            want["tenant"] = row["tenant"]
        got = dict(event.get_attributes(), data=event.get_data())
        got.pop("id")
        if got != want:
            print(f"row {row_id}: event {got} is not {want}", file=sys.stderr)
            return 1
    extra = sorted(set(seen) - set(rows))
    if extra:
        print(f"events without a row: {extra}", file=sys.stderr)
        return 1
    print(f"{len(seen)} events equal their rows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
