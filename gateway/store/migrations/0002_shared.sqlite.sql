-- What several processes need to share: how many clients wait on a task and
-- since when none has (the re-attach grace as a stored deadline), one open task
-- per dedup key, deadline indexes for the sweep, reviewer sessions and counters.
ALTER TABLE tasks ADD COLUMN clients INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tasks ADD COLUMN gone_at REAL;
-- An older file could hold two open tasks for one key; the newer one stays open.
UPDATE tasks SET status = 'cancelled', finished_at = created_at
WHERE status IN ('pending', 'claimed') AND EXISTS (
    SELECT 1 FROM tasks AS newer WHERE newer.dedup = tasks.dedup
    AND newer.status IN ('pending', 'claimed') AND newer.created_at > tasks.created_at
);
CREATE UNIQUE INDEX tasks_open_dedup ON tasks (dedup) WHERE status IN ('pending', 'claimed');
CREATE INDEX tasks_expiry ON tasks (expires_at) WHERE status IN ('pending', 'claimed');
CREATE INDEX tasks_lease ON tasks (lease_until) WHERE status = 'claimed';
CREATE INDEX tasks_gone ON tasks (gone_at) WHERE status IN ('pending', 'claimed');
CREATE INDEX tasks_answered ON tasks (answered_at);
CREATE TABLE sessions (key TEXT PRIMARY KEY, reviewer TEXT NOT NULL, seen_at REAL NOT NULL);
CREATE TABLE counters (
    name TEXT NOT NULL, key TEXT NOT NULL, minute INTEGER NOT NULL, count INTEGER NOT NULL,
    PRIMARY KEY (name, key, minute)
);
