"""The SQL both backends share, written once with ``?`` placeholders.

SQLite runs it as written; ``numbered`` turns the placeholders into PostgreSQL's
``$1, $2, ...``. Only statements the two dialects read alike live here; each
backend keeps its own connection handling, errors and notifications.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import fields
from typing import Any

import orjson

from gateway.human.grades import Grade
from gateway.human.store import DEADLINES, ESCALATE, GONE, LEASE, AuditEntry, Expected
from gateway.human.task import ANSWERED, OPEN, REJECTED, Task

COLUMNS = tuple(f.name for f in fields(Task))
COLUMN_LIST = ", ".join(COLUMNS)
JSON_FIELDS = frozenset({"answer", "result", "draft", "tools", "tool_choice", "output_format"})
# Group lists as ",a,b,": a LIKE '%,a,%' finds a group in either dialect.
GROUP_FIELDS = frozenset({"groups", "escalate_to"})
# Columns with a handful of values (status, the API, a served model's name...):
# interned, so the task each waiting client holds shares them instead of keeping
# its own copy of each string from the row (about 300 B a task, bench/human.py --trace).
FEW_VALUES = frozenset({"status", "api", "model", "reason", "kind", "dialect", "claimed_by"})
_OPEN_SQL = "(" + ", ".join(f"'{status}'" for status in OPEN) + ")"
_KEPT_SQL = f"('{ANSWERED}', '{REJECTED}')"
_PLACEHOLDER = re.compile(r"\?")
KEEP_MINUTES = 3 * 24 * 60  # counters older than this are pruned (stats look back a day)

FINISHED_WHERE = f"status NOT IN {_OPEN_SQL}"
INSERT_TASK = (
    f"INSERT INTO tasks ({COLUMN_LIST}) VALUES ({', '.join('?' for _ in COLUMNS)}) "
    f"ON CONFLICT (dedup) WHERE status IN {_OPEN_SQL} DO NOTHING RETURNING {COLUMN_LIST}"
)
OPEN_BY_DEDUP = f"SELECT {COLUMN_LIST} FROM tasks WHERE dedup = ? AND status IN {_OPEN_SQL}"
INSERT_REQUEST = "INSERT INTO requests (task_id, body, original) VALUES (?, ?, ?)"
INSERT_AUDIT = "INSERT INTO audit (task_id, at, event, actor, detail) VALUES (?, ?, ?, ?, ?)"
ATTACH = (  # args: count, task id
    f"UPDATE tasks SET clients = clients + ?, gone_at = NULL "
    f"WHERE id = ? AND status IN {_OPEN_SQL} RETURNING {COLUMN_LIST}"
)
DETACH = (  # args: count, count, count, gone_at, task id
    "UPDATE tasks SET clients = CASE WHEN clients > ? THEN clients - ? ELSE 0 END, "
    "gone_at = CASE WHEN clients <= ? THEN ? ELSE gone_at END "
    f"WHERE id = ? AND status IN {_OPEN_SQL} RETURNING {COLUMN_LIST}"
)
ATTACH_ROW = (
    "INSERT INTO attachments (task_id, process, clients) VALUES (?, ?, ?) "
    "ON CONFLICT (task_id, process) DO UPDATE SET clients = attachments.clients + excluded.clients"
)
DETACH_ROW = "UPDATE attachments SET clients = clients - ? WHERE task_id = ? AND process = ?"
DROP_EMPTY_ROW = "DELETE FROM attachments WHERE task_id = ? AND process = ? AND clients <= 0"
DROP_TASK_ROWS = "DELETE FROM attachments WHERE task_id = ?"
TOUCH_PROCESS = "UPDATE processes SET seen_at = ? WHERE id = ? RETURNING id"
ADD_PROCESS = (
    "INSERT INTO processes (id, seen_at) VALUES (?, ?) "
    "ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at"
)
DEAD_PROCESSES = "SELECT id FROM processes WHERE seen_at < ?"
BURY_PROCESS = "DELETE FROM processes WHERE id = ? AND seen_at < ? RETURNING id"
LEAVE_PROCESS = "DELETE FROM processes WHERE id = ?"
TAKE_ROWS = "DELETE FROM attachments WHERE process = ? RETURNING task_id, clients"
FORGET_ROWS = "DELETE FROM attachments"
FORGET_CLIENTS = f"UPDATE tasks SET clients = 0, gone_at = ? WHERE status IN {_OPEN_SQL}"
DUE = (
    f"SELECT id, '{DEADLINES[0]}' FROM tasks WHERE status IN {_OPEN_SQL} AND expires_at <= ? "
    f"UNION ALL SELECT id, '{LEASE}' FROM tasks WHERE status = 'claimed' AND lease_until <= ? "
    f"UNION ALL SELECT id, '{GONE}' FROM tasks WHERE status IN {_OPEN_SQL} "
    "AND clients <= 0 AND gone_at <= ? "
    f"UNION ALL SELECT id, '{ESCALATE}' FROM tasks WHERE status = 'pending' "
    "AND escalate_at <= ? LIMIT ?"
)
FIND = (
    f"SELECT {COLUMN_LIST} FROM tasks WHERE dedup = ? AND (status IN {_OPEN_SQL} "
    f"OR (status IN {_KEPT_SQL} AND NOT delivered AND answered_at >= ?)) "
    f"ORDER BY CASE WHEN status IN {_OPEN_SQL} THEN 0 ELSE 1 END, answered_at DESC LIMIT 1"
)
REQUEST = "SELECT body FROM requests WHERE task_id = ?"
ORIGINAL = "SELECT original FROM requests WHERE task_id = ?"
AUDIT = "SELECT task_id, at, event, actor, detail FROM audit WHERE task_id = ?"  # + order
STATUS_COUNTS = "SELECT status, COUNT(*) FROM tasks GROUP BY status"
KIND_COUNTS = "SELECT kind, status, COUNT(*) FROM tasks WHERE created_at >= ? GROUP BY kind, status"
ANSWER_SECONDS = (  # grade tasks are left out: nobody waits on them
    "SELECT answered_at - created_at FROM tasks WHERE status = 'answered' "
    "AND kind != 'grade' AND answered_at >= ? ORDER BY 1"
)
ESCALATIONS = (
    "SELECT model, reason, COUNT(*) FROM tasks WHERE reason != 'human_route' "
    "AND kind != 'grade' AND created_at >= ? GROUP BY model, reason"
)
DRAFTED = (
    "SELECT draft, answer FROM tasks WHERE status = 'answered' "
    "AND draft IS NOT NULL AND answer IS NOT NULL AND answered_at >= ?"
)
PUT_RESPONSE = (
    "INSERT INTO responses (id, task_id, owner, session, body, input, created_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET body = excluded.body, "
    "input = excluded.input"
)
DELETE_RESPONSE = "DELETE FROM responses WHERE id = ?"
GET_RESPONSE = "SELECT id, task_id, owner, session, body, input FROM responses WHERE id = ?"
PUT_FORWARDED = (
    "INSERT INTO forwarded_responses (id, owner, expires_at) VALUES (?, ?, ?) "
    "ON CONFLICT (id) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at"
)
PRUNE_FORWARDED = "DELETE FROM forwarded_responses WHERE expires_at < ?"
FORWARDED_OWNER = "SELECT owner FROM forwarded_responses WHERE id = ? AND expires_at >= ?"
DELETE_FORWARDED = "DELETE FROM forwarded_responses WHERE id = ?"
CLAIM_FINGERPRINT = (
    "INSERT INTO installation (key, value) VALUES ('secret_fingerprint', ?) "
    "ON CONFLICT (key) DO NOTHING"
)
FINGERPRINT = "SELECT value FROM installation WHERE key = 'secret_fingerprint'"
OPEN_SESSION = (
    "INSERT INTO sessions (key, reviewer, seen_at) VALUES (?, ?, ?) "
    "ON CONFLICT (key) DO UPDATE SET reviewer = excluded.reviewer, seen_at = excluded.seen_at"
)
TOUCH_SESSION = "UPDATE sessions SET seen_at = ? WHERE key = ? AND seen_at >= ? RETURNING reviewer"
CLOSE_SESSION = "DELETE FROM sessions WHERE key = ?"
ADD_COUNT = (
    "INSERT INTO counters (name, key, minute, count) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (name, key, minute) DO UPDATE SET count = counters.count + excluded.count"
)
PRUNE_COUNTS = "DELETE FROM counters WHERE name = ? AND minute < ?"
COUNTS_SINCE = "SELECT key, SUM(count) FROM counters WHERE name = ? AND minute >= ? GROUP BY key"
GRADE_COLUMNS = "task_id, reviewer, verdict, scores, comment, correction, at"
INSERT_GRADE = (
    f"INSERT INTO grades ({GRADE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (task_id, reviewer) DO NOTHING RETURNING task_id"
)
GRADES_OF = f"SELECT {GRADE_COLUMNS} FROM grades WHERE task_id IN "  # + (...) ORDER BY at
# Agreement reads at most this many of the newest grades: each is a few hundred bytes,
# and 50 000 grades is months of a busy team's shadow review.
GRADES_READ = 50_000
GRADES_SINCE = (
    f"SELECT t.model, t.rubric, {', '.join('g.' + c for c in GRADE_COLUMNS.split(', '))} "
    "FROM grades g JOIN tasks t ON t.id = g.task_id WHERE g.at >= ? ORDER BY g.at DESC LIMIT ?"
)


def kinds_from_rows(rows: Sequence[Sequence[Any]]) -> dict[str, dict[str, int]]:
    """``kind -> status -> tasks`` from (kind, status, count) rows."""
    kinds: dict[str, dict[str, int]] = {}
    for kind, status, count in rows:
        kinds.setdefault(kind, {})[status] = int(count)
    return kinds


def numbered(sql: str) -> str:
    """``?`` placeholders as PostgreSQL's ``$1, $2, ...`` (no literal here holds a ``?``)."""
    count = iter(range(1, 10_000))
    return _PLACEHOLDER.sub(lambda _: f"${next(count)}", sql)


def select_tasks(where: str) -> str:
    return f"SELECT {COLUMN_LIST} FROM tasks {where}"


def group_list(groups: Sequence[str]) -> str:
    return f",{','.join(groups)}," if groups else ""


def visible_to(groups: frozenset[str] | None) -> tuple[str, list[Any]]:
    """A WHERE clause keeping the tasks a reviewer in ``groups`` sees (``None``: every one)."""
    if groups is None:
        return "TRUE", []
    likes = " OR ".join("groups LIKE ? ESCAPE '!'" for _ in groups)
    clause = f"(groups = ''{' OR ' + likes if likes else ''})"
    return clause, [f"%,{_escape_like(group)},%" for group in sorted(groups)]


def _escape_like(text: str) -> str:
    return text.replace("!", "!!").replace("%", "!%").replace("_", "!_")


def listing(
    statuses: Sequence[str],
    model: str | None,
    session: str | None,
    newest_first: bool,
    limit: int,
    groups: frozenset[str] | None = None,
    kind: str | None = None,
) -> tuple[str, list[Any]]:
    clauses = [f"status IN ({', '.join('?' for _ in statuses)})"]
    args: list[Any] = list(statuses)
    if kind:
        clauses.append("kind = ?")
        args.append(kind)
    if groups is not None:
        clause, group_args = visible_to(groups)
        clauses.append(clause)
        args += group_args
    if model:
        clauses.append("model = ?")
        args.append(model)
    if session:
        clauses.append("session = ?")
        args.append(session)
    order = "DESC" if newest_first else "ASC"
    where = f"WHERE {' AND '.join(clauses)} ORDER BY created_at {order} LIMIT ?"
    return select_tasks(where), [*args, limit]


def answered_after(after: float, model: str | None, limit: int) -> tuple[str, list[Any]]:
    where = "WHERE status = 'answered' AND answered_at > ?"
    args: list[Any] = [after]
    if model:
        where += " AND model = ?"
        args.append(model)
    return select_tasks(f"{where} ORDER BY answered_at LIMIT ?"), [*args, limit]


def transition(task_id: str, guard: Expected, changes: Mapping[str, Any]) -> tuple[str, list[Any]]:
    """``UPDATE ... WHERE <guard> RETURNING``: the row comes back only if the guard held."""
    unknown = set(changes) - set(COLUMNS)
    if unknown or not changes:
        raise ValueError(f"cannot write task fields {sorted(unknown) or 'none'}")
    assignments = ", ".join(f"{name} = ?" for name in changes)
    args: list[Any] = [column_value(name, value) for name, value in changes.items()]
    clauses = ["id = ?", f"status IN ({', '.join('?' for _ in guard.statuses)})"]
    args += [task_id, *guard.statuses]
    if guard.holder is not None:
        clauses.append("(status = 'pending' OR claimed_by = ?)")
        args.append(guard.holder)
    if guard.held_by is not None:
        clauses.append("status = 'claimed' AND claimed_by = ?")
        args.append(guard.held_by)
    if guard.due is not None:
        if guard.due not in DEADLINES:
            raise ValueError(f"unknown deadline {guard.due!r}")
        clauses.append(f"{guard.due} IS NOT NULL AND {guard.due} <= ?")
        args.append(guard.now)
    if guard.unattached:
        clauses.append("clients <= 0")
    if guard.undelivered:
        clauses.append("NOT delivered")
    where = " AND ".join(clauses)
    return f"UPDATE tasks SET {assignments} WHERE {where} RETURNING {COLUMN_LIST}", args


def audit_args(entry: AuditEntry) -> tuple[Any, ...]:
    return (entry.task_id, entry.at, entry.event, entry.actor, entry.detail)


def column_value(name: str, value: Any) -> Any:
    if name in JSON_FIELDS:
        return None if value is None else orjson.dumps(value).decode()
    if name in GROUP_FIELDS:
        return group_list(value)
    return value


def task_row(task: Task) -> list[Any]:
    return [column_value(name, getattr(task, name)) for name in COLUMNS]


def task_from_row(row: Sequence[Any]) -> Task:
    values = {}
    for name, value in zip(COLUMNS, row, strict=True):
        if name in JSON_FIELDS and value is not None:
            value = orjson.loads(value)
        elif name in GROUP_FIELDS:
            value = tuple(group for group in (value or "").split(",") if group)
        elif name in FEW_VALUES and value is not None:
            value = sys.intern(value)
        values[name] = value
    values["delivered"] = bool(values["delivered"])
    values["stream"] = bool(values["stream"])
    values["tools"] = values["tools"] or []
    values["kind"] = values["kind"] or "text"
    values["step"] = values["step"] or 1
    values["n"] = values["n"] or 1
    values["reviews"] = values["reviews"] or 1
    values["graded"] = values["graded"] or 0
    return Task(**values)


def grade_args(grade: Grade) -> tuple[Any, ...]:
    correction = None if grade.correction is None else orjson.dumps(grade.correction).decode()
    scores = orjson.dumps(grade.scores).decode()
    comment = grade.comment
    return (grade.task_id, grade.reviewer, grade.verdict, scores, comment, correction, grade.at)


def grade_from_row(row: Sequence[Any]) -> Grade:
    task_id, reviewer, verdict, scores, comment, correction, at = row
    correction = None if correction is None else orjson.loads(correction)
    return Grade(task_id, reviewer, verdict, orjson.loads(scores), comment, correction, at)


def grade_changes(task: Task, reviewer: str, now: float) -> dict[str, Any]:
    """The task's changes for one more grade by ``reviewer``."""
    graded = task.graded + 1
    if graded >= task.reviews:
        held = task.status == "claimed" and task.claimed_by == reviewer
        return {
            "graded": graded,
            "status": ANSWERED,
            "claimed_by": reviewer,
            "claimed_at": task.claimed_at if held else now,
            "answered_at": now,
            "answered_by": reviewer,
            "finished_at": now,
            "lease_until": None,
            "escalate_at": None,
            "delivered": True,  # no client waits on a grade
        }
    changes: dict[str, Any] = {"graded": graded}
    if task.claimed_by == reviewer:  # the next reviewer may take it
        changes.update(status="pending", claimed_by=None, lease_until=None)
    return changes


def drafted_from_rows(rows: Sequence[Sequence[Any]]) -> list[tuple[dict, dict]]:
    return [(orjson.loads(draft), orjson.loads(answer)) for draft, answer in rows]
