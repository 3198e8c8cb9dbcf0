-- The ACME server (RFC 8555): accounts, orders, authorizations, challenges and nonces. Times are
-- unix milliseconds. Nonces live here, not in memory, so any replica takes a nonce another issued.
CREATE TABLE acme_accounts (
  id          TEXT    PRIMARY KEY,
  provisioner TEXT    NOT NULL,
  thumbprint  TEXT    NOT NULL, -- RFC 7638 SHA-256 thumbprint of the account key, base64url
  jwk         TEXT    NOT NULL, -- the public key, JWK JSON
  status      TEXT    NOT NULL, -- valid, deactivated, revoked
  contact     TEXT    NOT NULL DEFAULT '[]', -- JSON array of URLs
  eab_key_id  TEXT,             -- the auth_keys name the external account binding used
  created_at  INTEGER NOT NULL,
  UNIQUE (provisioner, thumbprint)
);

CREATE TABLE acme_orders (
  id                           TEXT    PRIMARY KEY,
  account_id                   TEXT    NOT NULL REFERENCES acme_accounts (id),
  provisioner                  TEXT    NOT NULL,
  status                       TEXT    NOT NULL, -- pending, ready, processing, valid, invalid
  expires                      INTEGER NOT NULL,
  identifiers                  TEXT    NOT NULL, -- JSON array of {type, value}
  not_before                   INTEGER,
  not_after                    INTEGER,
  error                        TEXT,             -- RFC 7807 problem document, JSON
  certificate_serial           TEXT,             -- decimal, as the certificates table keys it
  certificate_authority_key_id TEXT,
  certificate_pem              TEXT,
  created_at                   INTEGER NOT NULL
);
CREATE INDEX acme_orders_account ON acme_orders (account_id, created_at);
CREATE INDEX acme_orders_certificate ON acme_orders (certificate_serial);

CREATE TABLE acme_authorizations (
  id               TEXT    PRIMARY KEY,
  order_id         TEXT    NOT NULL REFERENCES acme_orders (id),
  identifier_type  TEXT    NOT NULL,
  identifier_value TEXT    NOT NULL,
  status           TEXT    NOT NULL, -- pending, valid, invalid, deactivated, expired, revoked
  expires          INTEGER NOT NULL,
  wildcard         INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX acme_authorizations_order ON acme_authorizations (order_id);

CREATE TABLE acme_challenges (
  id               TEXT    PRIMARY KEY,
  authorization_id TEXT    NOT NULL REFERENCES acme_authorizations (id),
  type             TEXT    NOT NULL,
  token            TEXT    NOT NULL,
  status           TEXT    NOT NULL, -- pending, processing, valid, invalid
  validated        INTEGER,
  error            TEXT              -- RFC 7807 problem document, JSON
);
CREATE INDEX acme_challenges_authorization ON acme_challenges (authorization_id);

-- Replay-Nonce values handed out and not used yet: a nonce is good once, until it expires.
CREATE TABLE acme_nonces (
  nonce      TEXT    PRIMARY KEY,
  expires_at INTEGER NOT NULL
);
CREATE INDEX acme_nonces_expiry ON acme_nonces (expires_at);
