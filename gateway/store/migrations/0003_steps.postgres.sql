-- A task's kind and its place in a run (human/steps.py).
ALTER TABLE tasks ADD COLUMN kind TEXT NOT NULL DEFAULT 'text';
ALTER TABLE tasks ADD COLUMN step INTEGER NOT NULL DEFAULT 1;
ALTER TABLE tasks ADD COLUMN follows TEXT;
