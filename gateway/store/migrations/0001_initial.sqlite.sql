-- The schema of every SQLite file made before migrations were numbered: an old
-- file already has all of it, and IF NOT EXISTS leaves its tasks alone.
CREATE TABLE IF NOT EXISTS tasks (
    id TEXT PRIMARY KEY, status, api, model, reason, session, created_at, expires_at,
    dedup, owner, stream, preview, prompt_tokens, claimed_by, claimed_at, lease_until,
    answered_at, answered_by, finished_at, answer, result, delivered, reject_reason, draft,
    confidence, response_id, tools, tool_choice
);
CREATE INDEX IF NOT EXISTS tasks_status ON tasks (status, created_at);
CREATE INDEX IF NOT EXISTS tasks_dedup ON tasks (dedup);
CREATE TABLE IF NOT EXISTS requests (task_id TEXT PRIMARY KEY, body BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS audit (
    task_id TEXT NOT NULL, at REAL NOT NULL, event TEXT NOT NULL, actor TEXT, detail TEXT
);
CREATE INDEX IF NOT EXISTS audit_task ON audit (task_id, at);
CREATE TABLE IF NOT EXISTS responses (
    id TEXT PRIMARY KEY, task_id TEXT, owner TEXT, session TEXT,
    body BLOB NOT NULL, input BLOB NOT NULL, created_at REAL NOT NULL
);
