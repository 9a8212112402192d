-- The export reads finished tasks a page at a time by (finished_at, id), and the
-- sessions view groups tasks by session in creation order (gateway/export).
CREATE INDEX tasks_finished ON tasks (finished_at, id);
CREATE INDEX tasks_session ON tasks (session, created_at);
