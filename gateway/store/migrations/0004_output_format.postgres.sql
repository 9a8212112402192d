-- The JSON a structured answer must be, and how many answers (choices) the client
-- asked for (human/formats.py).
ALTER TABLE tasks ADD COLUMN output_format TEXT;
ALTER TABLE tasks ADD COLUMN n INTEGER NOT NULL DEFAULT 1;
