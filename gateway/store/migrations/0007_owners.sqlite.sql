-- Which client made each Responses id that an upstream minted (a forwarded request),
-- until it expires: only that client may read, list, cancel or delete it through the
-- gateway (issue 16). ``owner`` is the hex digest of the client's key.
CREATE TABLE forwarded_responses (
    id TEXT PRIMARY KEY, owner TEXT NOT NULL, expires_at REAL NOT NULL
);
CREATE INDEX forwarded_responses_expiry ON forwarded_responses (expires_at);
-- Facts about the installation, one row each: ``secret_fingerprint`` is an HMAC of a
-- fixed label under the secret the store was first used with (never the secret).
CREATE TABLE installation (key TEXT PRIMARY KEY, value TEXT NOT NULL);
