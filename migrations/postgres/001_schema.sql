-- The certificate inventory on PostgreSQL: the SQLite schema of migrations/001-006 in one step, with
-- PostgreSQL's types for times. Serials stay decimal text and authority key ids lower-case hex, as in
-- cfssl's certdb, so queries and habits carry over between the two backends.
CREATE TABLE certificates (
  serial_number            TEXT        NOT NULL,
  authority_key_identifier TEXT        NOT NULL,
  ca_label                 TEXT        NOT NULL DEFAULT '',
  profile                  TEXT        NOT NULL,
  status                   TEXT        NOT NULL DEFAULT 'good' CHECK (status IN ('good', 'revoked')),
  reason                   INTEGER     NOT NULL DEFAULT 0,
  expiry                   TIMESTAMPTZ NOT NULL,
  revoked_at               TIMESTAMPTZ,
  pem                      TEXT        NOT NULL,
  issued_at                TIMESTAMPTZ NOT NULL,
  not_before               TIMESTAMPTZ NOT NULL,
  metadata                 TEXT,
  sans                     TEXT        NOT NULL DEFAULT '[]',
  common_name              TEXT        NOT NULL DEFAULT '',
  requested_by             TEXT,
  subject_names            TEXT        NOT NULL DEFAULT '[]',
  -- The tie-breaker of inventory cursors, as SQLite's rowid is.
  id                       BIGINT      GENERATED ALWAYS AS IDENTITY UNIQUE,
  PRIMARY KEY (serial_number, authority_key_identifier)
);

-- The inventory walks an index in the order it lists (see migrations/005_inventory_indexes.sql).
CREATE INDEX certificates_expiry ON certificates (expiry, id);
CREATE INDEX certificates_common_name ON certificates (common_name);
CREATE INDEX certificates_status_expiry ON certificates (status, expiry, id);
CREATE INDEX certificates_issued ON certificates (issued_at, id);
CREATE INDEX certificates_profile_issued ON certificates (profile, issued_at, id);
CREATE INDEX certificates_status_issued ON certificates (status, issued_at, id);
-- What a CRL lists, from a small partial index of revoked rows only.
CREATE INDEX certificates_revoked ON certificates (authority_key_identifier, expiry, serial_number, revoked_at, reason) WHERE status = 'revoked';

-- The last CRL number each CA has issued: RFC 5280 wants it to only grow, across every replica.
CREATE TABLE crl_numbers (
  authority_key_identifier TEXT   PRIMARY KEY,
  last_number              BIGINT NOT NULL
);

-- The last CRLs each CA signed, DER: replicas on a read-only standby cannot take a CRL number, so
-- they serve the newest one here (streamed from the primary) that is still within its nextUpdate.
CREATE TABLE crls (
  authority_key_identifier TEXT        NOT NULL,
  crl_number               BIGINT      NOT NULL,
  this_update              TIMESTAMPTZ NOT NULL,
  next_update              TIMESTAMPTZ NOT NULL,
  der                      BYTEA       NOT NULL,
  PRIMARY KEY (authority_key_identifier, crl_number)
);

-- Replay protection, shared by the replicas: a nonce is refused while its row lives.
CREATE TABLE seen_nonces (
  key_name   TEXT   NOT NULL,
  nonce      TEXT   NOT NULL,
  expires_at BIGINT NOT NULL, -- unix milliseconds
  PRIMARY KEY (key_name, nonce)
);
CREATE INDEX seen_nonces_expiry ON seen_nonces (expires_at);

-- Rate limiting: each client's count in its current fixed window, shared by the replicas.
CREATE TABLE rate_windows (
  client       TEXT   PRIMARY KEY,
  window_start BIGINT NOT NULL, -- unix milliseconds
  count        INTEGER NOT NULL
);

-- What the service knows about this database itself: the CA it belongs to (ca_subject_key_id,
-- ca_certificate_sha256), recorded at the first start and checked at every start after.
CREATE TABLE meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
);

-- How many times the revoked set has changed: every replica polls it (one row, one read) and re-signs
-- its cached CRL when it moves, so a revocation made on one replica is in every replica's CRL within
-- a second. A table rather than a sequence: a hot standby sees each change of a row, while a
-- sequence's value reaches it only every 32 calls.
CREATE TABLE revocation_state (
  id         INTEGER PRIMARY KEY CHECK (id = 1),
  generation BIGINT  NOT NULL
);
INSERT INTO revocation_state (id, generation) VALUES (1, 0);

-- In the revoking transaction itself, so no path that revokes (the API, migrate-db, an operator's
-- UPDATE in psql) can forget it.
CREATE FUNCTION certificates_revoked_set_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE revocation_state SET generation = generation + 1 WHERE id = 1;
  RETURN NULL;
END
$$;
CREATE TRIGGER certificates_status_changed AFTER UPDATE OF status ON certificates
  FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION certificates_revoked_set_changed();
