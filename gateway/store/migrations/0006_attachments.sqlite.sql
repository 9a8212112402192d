-- Which process holds which waiting clients, and which processes are alive: when
-- a process dies without saying so, a live one takes its clients off their tasks,
-- so those tasks get the re-attach grace like any task whose client left.
CREATE TABLE attachments (
    task_id TEXT NOT NULL, process TEXT NOT NULL, clients INTEGER NOT NULL,
    PRIMARY KEY (task_id, process)
);
CREATE INDEX attachments_process ON attachments (process);
CREATE TABLE processes (id TEXT PRIMARY KEY, seen_at REAL NOT NULL);
