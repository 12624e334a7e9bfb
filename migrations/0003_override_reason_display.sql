-- How an override reason reads (issue 25): an EHR-built reason (Epic's, kept under its category
-- code) is listed by the display the EHR sent; the service's own reasons by their CodeSystem's.
ALTER TABLE feedback ADD COLUMN reason_display TEXT;
