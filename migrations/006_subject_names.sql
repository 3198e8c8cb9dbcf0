-- The names a certificate's subject carries beyond its first CN: further CN values (in any RDN)
-- and email addresses, as a JSON array. TLS and S/MIME clients match those too, so the inventory's
-- q= searches them with common_name and sans. Rows written before stay '[]'.
ALTER TABLE certificates ADD COLUMN subject_names TEXT NOT NULL DEFAULT '[]';
