"""The hash chain: pure functions, no Django. Used by the writer and by audit_verify."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

GENESIS = "0" * 64
HASHED_FIELDS = (
    "seq",
    "timestamp",
    "actor_id",
    "actor_name",
    "source",
    "action",
    "target_type",
    "target_id",
    "target_repr",
    "before",
    "after",
    "request_id",
)


def canonical_json(row: Mapping[str, Any]) -> str:
    return json.dumps({k: row[k] for k in HASHED_FIELDS}, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def chain_hash(prev_hash: str, row: Mapping[str, Any]) -> str:
    return hashlib.sha256((prev_hash + canonical_json(row)).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ChainBreak:
    """The first event at which the chain no longer holds."""

    event_id: int
    seq: int
    reason: str


def verify_chain(rows: Iterable[Mapping[str, Any]]) -> tuple[int, ChainBreak | None]:
    """Walk rows in primary-key order. Returns (rows checked, first break or None).

    Catches an edited row (its hash no longer matches), a deleted row (a gap in seq and a broken
    prev_hash link) and reordered rows (seq out of order or links crossed).
    """
    prev_hash, expected_seq, count = GENESIS, 1, 0
    for row in rows:
        count += 1
        if row["seq"] != expected_seq:
            return count, ChainBreak(row["id"], row["seq"], f"expected seq {expected_seq}, found {row['seq']}")
        if row["prev_hash"] != prev_hash:
            return count, ChainBreak(row["id"], row["seq"], "prev_hash does not match the previous event's hash")
        if chain_hash(prev_hash, row) != row["hash"]:
            return count, ChainBreak(row["id"], row["seq"], "hash does not match the event's contents")
        prev_hash, expected_seq = row["hash"], expected_seq + 1
    return count, None
