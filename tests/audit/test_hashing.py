"""The chain walk is pure: tested on hand-built rows, no database."""

from __future__ import annotations

from mlgov.audit.hashing import GENESIS, chain_hash, verify_chain


def _chain(n: int) -> list[dict]:
    rows, prev = [], GENESIS
    for i in range(1, n + 1):
        row = {
            "id": i,
            "seq": i,
            "timestamp": f"2026-11-23T10:00:0{i % 10}+00:00",
            "actor_id": 1,
            "actor_name": "ada",
            "source": "api",
            "action": "team.created",
            "target_type": "team",
            "target_id": str(i),
            "target_repr": f"Team {i}",
            "before": None,
            "after": {"name": f"Team {i}"},
            "request_id": f"req{i}",
        }
        row["prev_hash"], row["hash"] = prev, chain_hash(prev, row)
        prev = row["hash"]
        rows.append(row)
    return rows


def test_intact_chain():
    assert verify_chain(_chain(5)) == (5, None)


def test_empty_chain():
    assert verify_chain([]) == (0, None)


def test_edited_row_is_named():
    rows = _chain(5)
    rows[2]["after"] = {"name": "tampered"}
    _, broken = verify_chain(rows)
    assert broken is not None
    assert (broken.event_id, broken.seq) == (3, 3)
    assert "contents" in broken.reason


def test_deleted_row_is_named():
    rows = _chain(5)
    del rows[1]
    _, broken = verify_chain(rows)
    assert broken is not None
    assert broken.event_id == 3
    assert "expected seq 2" in broken.reason


def test_swapped_rows_are_named():
    rows = _chain(5)
    rows[1], rows[2] = rows[2], rows[1]
    _, broken = verify_chain(rows)
    assert broken is not None
    assert broken.event_id == 3


def test_rehashed_edit_still_breaks_the_next_link():
    rows = _chain(4)
    rows[1]["after"] = {"name": "forged"}
    rows[1]["hash"] = chain_hash(rows[1]["prev_hash"], rows[1])
    _, broken = verify_chain(rows)
    assert broken is not None
    assert broken.seq == 3
    assert "prev_hash" in broken.reason
