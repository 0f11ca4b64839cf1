# The seed article's analytics_consumer/analytics.py, as published but for these changes:
# - isolation_level="read_committed", the one setting it needs: without it a consumer also
#   reads the records of Kafka transactions the relay aborted (a crash, a broker away) and
#   handles those events twice; nothing is lost either way (README "Consuming the events");
# - the broker address comes from KAFKA_BROKERS (the demo's broker is not on localhost:9092).
# deploy/local/demo.sh runs it in a venv with kafka-python from PyPI.
import json, os
from kafka import KafkaConsumer
consumer = KafkaConsumer(
    "orders",
    bootstrap_servers=[os.environ.get("KAFKA_BROKERS", "localhost:9092")],
    group_id="analytics-group",
    auto_offset_reset="earliest",
    isolation_level="read_committed",
    value_deserializer=lambda x: json.loads(x.decode("utf-8"))
)
print("Analytics consumer started...")
for msg in consumer:
    event = msg.value
    # Idempotent analytics update: upsert by event_id
    if event["type"] == "OrderCreated":
        print(f"[Analytics] Order {event['payload']['order_id']} revenue: {event['payload']['amount']}")
