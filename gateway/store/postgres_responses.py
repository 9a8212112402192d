"""The PostgreSQL backend's response ids: stored Responses answers, and who made each forwarded id.

Plain functions on one asyncpg connection; ``PostgresStore`` runs
``put_forwarded`` (two statements) inside a transaction.
"""

from __future__ import annotations

import asyncpg
import orjson

from gateway.human.store import StoredResponse
from gateway.store import postgres_sql as q


async def put_response(conn: asyncpg.Connection, response: StoredResponse, now: float) -> None:
    await conn.execute(
        q.PUT_RESPONSE,
        response.id,
        response.task_id,
        response.owner,
        response.session,
        response.body,
        orjson.dumps(response.input),
        now,
    )


async def get_response(conn: asyncpg.Connection, response_id: str) -> StoredResponse | None:
    row = await conn.fetchrow(q.GET_RESPONSE, response_id)
    if row is None:
        return None
    id, task_id, owner, session, body = row[:5]
    return StoredResponse(id, task_id, owner, session, body, orjson.loads(row[5]))


async def delete_response(conn: asyncpg.Connection, response_id: str) -> bool:
    return await conn.execute(q.DELETE_RESPONSE, response_id) != "DELETE 0"


async def put_forwarded(
    conn: asyncpg.Connection, response_id: str, owner: str, expires_at: float, now: float
) -> None:
    """Record the owner of a forwarded id, dropping the expired ones on the way."""
    await conn.execute(q.PRUNE_FORWARDED, now)
    await conn.execute(q.PUT_FORWARDED, response_id, owner, expires_at)


async def forwarded_owner(conn: asyncpg.Connection, response_id: str, now: float) -> str | None:
    return await conn.fetchval(q.FORWARDED_OWNER, response_id, now)


async def delete_forwarded(conn: asyncpg.Connection, response_id: str) -> None:
    await conn.execute(q.DELETE_FORWARDED, response_id)
