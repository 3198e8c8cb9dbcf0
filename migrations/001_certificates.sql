-- The certificate inventory, close to cfssl's certdb so its habits carry over: serials in decimal,
-- authority key ids in lower-case hex, one row per issued certificate. Times are ISO 8601 UTC
-- strings, which sort as text.
CREATE TABLE certificates (
  serial_number            TEXT    NOT NULL,
  authority_key_identifier TEXT    NOT NULL,
  ca_label                 TEXT    NOT NULL DEFAULT '',
  profile                  TEXT    NOT NULL,
  status                   TEXT    NOT NULL DEFAULT 'good' CHECK (status IN ('good', 'revoked')),
  reason                   INTEGER NOT NULL DEFAULT 0,
  expiry                   TEXT    NOT NULL,
  revoked_at               TEXT,
  pem                      TEXT    NOT NULL,
  issued_at                TEXT    NOT NULL,
  not_before               TEXT    NOT NULL,
  metadata                 TEXT,
  sans                     TEXT    NOT NULL DEFAULT '[]',
  common_name              TEXT    NOT NULL DEFAULT '',
  PRIMARY KEY (serial_number, authority_key_identifier)
);

CREATE INDEX certificates_expiry ON certificates (expiry);
CREATE INDEX certificates_common_name ON certificates (common_name);
