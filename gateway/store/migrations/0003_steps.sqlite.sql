-- A task's kind and its place in a run (human/steps.py). A file made by the
-- version that added them without a migration has them already: the runner
-- skips an ADD COLUMN for a column that exists.
ALTER TABLE tasks ADD COLUMN kind TEXT NOT NULL DEFAULT 'text';
ALTER TABLE tasks ADD COLUMN step INTEGER NOT NULL DEFAULT 1;
ALTER TABLE tasks ADD COLUMN follows TEXT;
