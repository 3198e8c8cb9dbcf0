-- Who asked for each certificate, for the audit trail: an auth key name, a client certificate's CN
-- or the client's address, as the service saw it when it issued.
ALTER TABLE certificates ADD COLUMN requested_by TEXT;

-- The last CRL number each CA (by its subject key id) has issued. RFC 5280 wants it to only grow,
-- so it lives here rather than in memory, where a restart would reset it.
CREATE TABLE crl_numbers (
  authority_key_identifier TEXT    PRIMARY KEY,
  last_number              INTEGER NOT NULL
);

-- The CRL lists revoked certificates that have not expired; the inventory filters on status.
CREATE INDEX certificates_status_expiry ON certificates (status, expiry);
