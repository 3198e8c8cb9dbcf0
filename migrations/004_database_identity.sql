-- What the service knows about this database itself, as key/value pairs. The CA it belongs to
-- (ca_subject_key_id, ca_certificate_sha256) is recorded at the first start with that CA and
-- checked at every start after: a database of another CA is refused rather than silently used.
CREATE TABLE meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;
