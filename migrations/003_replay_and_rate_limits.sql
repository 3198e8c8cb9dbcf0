-- Replay protection: the nonces of authenticated requests seen within the replay window, per auth
-- key. A nonce is refused while its row lives; rows are purged once the window has passed.
CREATE TABLE seen_nonces (
  key_name   TEXT    NOT NULL,
  nonce      TEXT    NOT NULL,
  expires_at INTEGER NOT NULL, -- unix milliseconds
  PRIMARY KEY (key_name, nonce)
);
CREATE INDEX seen_nonces_expiry ON seen_nonces (expires_at);

-- Rate limiting: each client's request count in its current fixed window. Kept here, not in
-- memory, so a restart does not hand a client a fresh allowance.
CREATE TABLE rate_windows (
  client       TEXT    PRIMARY KEY,
  window_start INTEGER NOT NULL, -- unix milliseconds
  count        INTEGER NOT NULL
);
