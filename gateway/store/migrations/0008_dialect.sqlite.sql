-- The wire dialect whose door shapes a task's answer (gateway/human/work.py), and the
-- request exactly as the client sent it when a door translated it into the core's
-- conversation form (the Anthropic door; ``records`` exports it).
ALTER TABLE tasks ADD COLUMN dialect TEXT NOT NULL DEFAULT 'openai';
ALTER TABLE requests ADD COLUMN original BLOB;
