"""The SQLite backend's response ids: stored Responses answers, and who made each forwarded id.

Plain functions on the store's connection, run on its one thread (``SQLiteStore``
calls the writing ones inside a transaction).
"""

from __future__ import annotations

import sqlite3

import orjson

from gateway.human.store import StoredResponse
from gateway.store import sql


def put_response(db: sqlite3.Connection, response: StoredResponse, now: float) -> None:
    db.execute(
        sql.PUT_RESPONSE,
        (
            response.id,
            response.task_id,
            response.owner,
            response.session,
            response.body,
            orjson.dumps(response.input),
            now,
        ),
    )


def get_response(db: sqlite3.Connection, response_id: str) -> StoredResponse | None:
    row = db.execute(sql.GET_RESPONSE, (response_id,)).fetchone()
    if row is None:
        return None
    id, task_id, owner, session, body = row[:5]
    return StoredResponse(id, task_id, owner, session, body, orjson.loads(row[5]))


def delete_response(db: sqlite3.Connection, response_id: str) -> bool:
    return db.execute(sql.DELETE_RESPONSE, (response_id,)).rowcount > 0


def put_forwarded(
    db: sqlite3.Connection, response_id: str, owner: str, expires_at: float, now: float
) -> None:
    """Record the owner of a forwarded id, dropping the expired ones on the way."""
    db.execute(sql.PRUNE_FORWARDED, (now,))
    db.execute(sql.PUT_FORWARDED, (response_id, owner, expires_at))


def forwarded_owner(db: sqlite3.Connection, response_id: str, now: float) -> str | None:
    row = db.execute(sql.FORWARDED_OWNER, (response_id, now)).fetchone()
    return None if row is None else row[0]


def delete_forwarded(db: sqlite3.Connection, response_id: str) -> None:
    db.execute(sql.DELETE_FORWARDED, (response_id,))
