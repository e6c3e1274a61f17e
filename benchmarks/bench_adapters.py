"""Reading product-analytics exports: pql's adapters vs. plain json + pandas.

    python benchmarks/bench_adapters.py                    # 300k records per vendor
    python benchmarks/bench_adapters.py --records 100000   # quick look

For each vendor it writes a gzipped JSON-lines export in that vendor's documented shape
(10% of users start anonymous and log in later, 2% of events re-sent with the same
insert id, nested properties), then times `features.ingest.load_events` (adapter,
identity merges, de-duplication, validation, counting) against the peer: `json.loads`
per line plus `pandas.json_normalize` (flattening only: no identity, no
de-duplication, no validation), in the same run. The peer is the floor of "just read
it into a frame"; the ratio says what the rest costs.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pql.features.ingest import load_events
from pql.features.spec import parse_spec

T0 = 1_767_261_600  # 2026-01-01T10:00:00Z


def _record(vendor: str, i: int, user: str, anon: str | None, when: int) -> dict:
    props = {"rows": i % 97, "plan": {"seats": i % 7}}
    iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when))
    insert = f"i{i}"
    if vendor == "segment":
        ids = {"anonymousId": anon} if anon else {"userId": user, "anonymousId": f"a-{user}"}
        return {
            "type": "track",
            "event": f"e{i % 12}",
            "messageId": insert,
            "timestamp": iso,
            "properties": props,
            "context": {"groupId": f"g{hash(user) % 500}"},
            **ids,
        }
    if vendor == "mixpanel":
        ids = (
            {"distinct_id": f"$device:{anon}", "$device_id": anon}
            if anon
            else {"distinct_id": user, "$user_id": user, "$device_id": f"d-{user}"}
        )
        return {
            "event": f"e{i % 12}",
            "properties": {"time": when, "$insert_id": insert, **ids, **props},
        }
    if vendor == "amplitude":
        return {
            "event_type": f"e{i % 12}",
            "user_id": None if anon else user,
            "device_id": anon or f"d-{user}",
            "$insert_id": insert,
            "event_time": time.strftime("%Y-%m-%d %H:%M:%S.000000", time.gmtime(when)),
            "groups": {"company": [f"g{hash(user) % 500}"]},
            "event_properties": props,
        }
    return {
        "uuid": insert,
        "event": f"e{i % 12}",
        "distinct_id": anon or user,
        "timestamp": iso,
        "properties": {**props, "$group_0": f"g{hash(user) % 500}"},
    }


def _identify(vendor: str, user: str, anon: str, when: int) -> dict:
    if vendor == "segment":
        return {"type": "identify", "userId": user, "anonymousId": anon, "messageId": f"id-{user}"}
    if vendor == "mixpanel":
        return {
            "event": "Login",
            "properties": {"time": when, "distinct_id": user, "$user_id": user, "$device_id": anon},
        }
    if vendor == "amplitude":
        return {
            "event_type": "$identify",
            "user_id": user,
            "device_id": anon,
            "event_time": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(when)),
        }
    return {
        "event": "$identify",
        "distinct_id": user,
        "uuid": f"id-{user}",
        "timestamp": "2026-01-01T00:00:00Z",
        "properties": {"$anon_distinct_id": anon},
    }


def write_export(vendor: str, records: int, path: Path, seed: int = 7) -> None:
    rng = random.Random(seed)
    users = max(records // 50, 1)
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        for i in range(records):
            u = rng.randrange(users)
            user = f"u{u}"
            anonymous_start = u % 10 == 0 and rng.random() < 0.3
            anon = f"anon{u}" if anonymous_start else None
            record = _record(vendor, i, user, anon, T0 + rng.randrange(30 * 86_400))
            handle.write(json.dumps(record) + "\n")
            if rng.random() < 0.02:  # re-sent copy
                handle.write(json.dumps(record) + "\n")
            if anonymous_start and rng.random() < 0.05:
                handle.write(json.dumps(_identify(vendor, user, anon, T0)) + "\n")


def peer(path: Path) -> pd.DataFrame:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return pd.json_normalize([json.loads(line) for line in handle])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=300_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        for vendor in ("segment", "mixpanel", "amplitude", "posthog"):
            path = Path(folder) / f"{vendor}.jsonl.gz"
            write_export(vendor, args.records, path)
            spec = parse_spec(
                {
                    "product": "bench",
                    "data": {"events": {"path": str(path), "format": vendor}},
                    "label": {"conversion_event": "e0"},
                    "actions": {"a": {"events": ["e1"], "property": "rows", "aggregate": "sum"}},
                }
            )
            started = time.perf_counter()
            loaded = load_events(spec)
            ours = time.perf_counter() - started
            started = time.perf_counter()
            frame = peer(path)
            theirs = time.perf_counter() - started
            report = loaded.report
            assert report.rows_read == len(frame) == len(loaded.events) + report.rows_unusable
            dropped = ", ".join(f"{k} {v:,}" for k, v in report.unusable.items() if v)
            print(
                f"{vendor}: {report.rows_read:,} records -> {len(loaded.events):,} events in "
                f"{ours:.2f}s ({report.rows_read / ours:,.0f}/s); json+json_normalize peer "
                f"{theirs:.2f}s; ratio {ours / theirs:.2f}x; dropped: {dropped}"
            )


if __name__ == "__main__":
    main()
