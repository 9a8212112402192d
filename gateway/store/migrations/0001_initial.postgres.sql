-- The first schema, as SQLite's 0001 has it, with PostgreSQL's types.
CREATE TABLE tasks (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    api TEXT NOT NULL,
    model TEXT NOT NULL,
    reason TEXT NOT NULL,
    session TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL,
    dedup TEXT NOT NULL,
    owner TEXT NOT NULL,
    stream BOOLEAN NOT NULL DEFAULT FALSE,
    preview TEXT NOT NULL DEFAULT '',
    prompt_tokens INTEGER NOT NULL DEFAULT 0,
    claimed_by TEXT,
    claimed_at DOUBLE PRECISION,
    lease_until DOUBLE PRECISION,
    answered_at DOUBLE PRECISION,
    answered_by TEXT,
    finished_at DOUBLE PRECISION,
    answer TEXT,
    result TEXT,
    delivered BOOLEAN NOT NULL DEFAULT FALSE,
    reject_reason TEXT,
    draft TEXT,
    confidence DOUBLE PRECISION,
    response_id TEXT,
    tools TEXT,
    tool_choice TEXT
);
CREATE INDEX tasks_status ON tasks (status, created_at);
CREATE INDEX tasks_dedup ON tasks (dedup);
CREATE TABLE requests (task_id TEXT PRIMARY KEY, body BYTEA NOT NULL);
CREATE TABLE audit (
    seq BIGSERIAL PRIMARY KEY,
    task_id TEXT NOT NULL,
    at DOUBLE PRECISION NOT NULL,
    event TEXT NOT NULL,
    actor TEXT,
    detail TEXT
);
CREATE INDEX audit_task ON audit (task_id, seq);
CREATE TABLE responses (
    id TEXT PRIMARY KEY,
    task_id TEXT,
    owner TEXT,
    session TEXT,
    body BYTEA NOT NULL,
    input BYTEA NOT NULL,
    created_at DOUBLE PRECISION NOT NULL
);
