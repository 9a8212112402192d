-- The JSON a structured answer must be, and how many answers (choices) the client
-- asked for (human/formats.py). An existing column is kept (see 0003).
ALTER TABLE tasks ADD COLUMN output_format TEXT;
ALTER TABLE tasks ADD COLUMN n INTEGER NOT NULL DEFAULT 1;
