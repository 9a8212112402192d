-- Review operations (issue 19): who sees a task (reviewer groups, as ",a,b,"; empty for
-- everyone), the escalation deadline and the groups it adds, a grade task's rubric,
-- how many reviewers grade it and how many have; and the grades themselves.
ALTER TABLE tasks ADD COLUMN groups TEXT NOT NULL DEFAULT '';
ALTER TABLE tasks ADD COLUMN escalate_at REAL;
ALTER TABLE tasks ADD COLUMN escalate_to TEXT NOT NULL DEFAULT '';
ALTER TABLE tasks ADD COLUMN rubric TEXT;
ALTER TABLE tasks ADD COLUMN reviews INTEGER NOT NULL DEFAULT 1;
ALTER TABLE tasks ADD COLUMN graded INTEGER NOT NULL DEFAULT 0;
CREATE INDEX tasks_escalate_at ON tasks (escalate_at) WHERE escalate_at IS NOT NULL;
CREATE TABLE grades (
    task_id TEXT NOT NULL, reviewer TEXT NOT NULL, verdict TEXT NOT NULL,
    scores TEXT NOT NULL, comment TEXT, correction TEXT, at REAL NOT NULL,
    PRIMARY KEY (task_id, reviewer)
);
CREATE INDEX grades_at ON grades (at);
