-- The inventory walks an index in the order it lists, so a page reads about as many rows as it
-- returns, however many the table holds (1M rows: `expiring_within=400d` had blocked the service
-- for 2.5 s, sorting every match). Newest first is issued_at descending; a profile or status
-- filter walks its own slice of that order. Expiry orders use certificates_expiry and
-- certificates_status_expiry (001, 002). Each index ends in the rowid, the tie-breaker of cursors.
CREATE INDEX certificates_issued ON certificates (issued_at);
CREATE INDEX certificates_profile_issued ON certificates (profile, issued_at);
CREATE INDEX certificates_status_issued ON certificates (status, issued_at);
-- What a CRL lists, read from the index alone (a partial index: revoked rows only, so it stays
-- small): at 10,000 revoked certificates reading them from the table took ~85 ms of the HTTP thread.
CREATE INDEX certificates_revoked ON certificates (authority_key_identifier, expiry, serial_number, revoked_at, reason) WHERE status = 'revoked';
