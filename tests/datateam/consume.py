#!/usr/bin/env python3
"""A data team's consumer, not ours: Confluent's Python client reads Slotstream
topics from the beginning to their current end (read_committed), decodes every
value with the Avro deserializer through the schema registry, and prints one
JSON line per record. Exits 1 if any record cannot be decoded.

    consume.py --brokers HOST:PORT --registry URL --topics t1,t2
"""
import argparse
import base64
import json
import sys
import time
import uuid

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext


def plain(v):
    """JSON-safe: bytes as base64."""
    if isinstance(v, (bytes, bytearray)):
        return base64.b64encode(bytes(v)).decode()
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    if hasattr(v, "isoformat"):  # timestamp-millis decodes to a datetime
        return v.isoformat()
    return v


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--brokers", required=True)
    ap.add_argument("--registry", required=True)
    ap.add_argument("--topics", required=True)
    ap.add_argument("--timeout", type=float, default=60.0)
    args = ap.parse_args()

    registry = SchemaRegistryClient({"url": args.registry})
    decode = AvroDeserializer(registry)
    consumer = Consumer({
        "bootstrap.servers": args.brokers,
        "group.id": "datateam-" + uuid.uuid4().hex,
        "enable.auto.commit": False,
        "isolation.level": "read_committed",
        "auto.offset.reset": "earliest",
    })
    wanted = {}
    for topic in args.topics.split(","):
        meta = consumer.list_topics(topic, timeout=10)
        if topic not in meta.topics or meta.topics[topic].error is not None:
            print(f"no such topic: {topic}", file=sys.stderr)
            return 1
        for p in meta.topics[topic].partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            if high > low:
                wanted[(topic, p)] = high
    consumer.assign([TopicPartition(t, p, 0) for (t, p) in wanted])
    done = {k: False for k in wanted}
    failures = 0
    count = 0
    deadline = time.monotonic() + args.timeout
    while not all(done.values()):
        if time.monotonic() > deadline:
            print(f"timed out; still waiting on {[k for k, d in done.items() if not d]}", file=sys.stderr)
            return 1
        msg = consumer.poll(0.5)
        if msg is None:
            # Transaction markers take offsets: a partition is done once its
            # position reaches the end we saw.
            for (t, p), high in wanted.items():
                if not done[(t, p)]:
                    pos = consumer.position([TopicPartition(t, p)])[0].offset
                    if pos >= high:
                        done[(t, p)] = True
            continue
        if msg.error():
            print(f"consumer error: {msg.error()}", file=sys.stderr)
            return 1
        key = (msg.topic(), msg.partition())
        if key not in wanted:
            continue
        if msg.offset() >= wanted[key]:
            done[key] = True
            continue
        try:
            value = decode(msg.value(), SerializationContext(msg.topic(), MessageField.VALUE))
        except Exception as e:  # noqa: BLE001 - report every failure, keep going
            failures += 1
            print(f"undecodable {msg.topic()}[{msg.partition()}]@{msg.offset()}: {e}", file=sys.stderr)
            continue
        count += 1
        schema_id = int.from_bytes(msg.value()[1:5], "big")
        print(json.dumps({
            "topic": msg.topic(), "partition": msg.partition(), "offset": msg.offset(),
            "schema_id": schema_id, "value": plain(value),
        }))
        if msg.offset() + 1 >= wanted[key]:
            done[key] = True
    consumer.close()
    print(f"decoded {count} records, {failures} failures", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
