-- EHR profiles (issue 25). How an override reason reads: an EHR-built reason (Epic's, kept under
-- its category code) is listed by the display the EHR sent; the service's own reasons by their
-- CodeSystem's.
ALTER TABLE feedback ADD COLUMN reason_display TEXT;

-- What triggered a call, as the EHR said (Epic's bpa-trigger-action: "60" chart open, "18" enter
-- order…): analytics by trigger; never used to decide the clinical answer.
ALTER TABLE examined ADD COLUMN trigger_action TEXT;

-- Chart-open (patient-view) step-therapy warnings shown, by patient key: the warning is shown at
-- most once per patient in the site's interval (the card itself keeps one row: the same card is
-- the same uuid on every chart open).
CREATE TABLE chart_opens (
    patient_key TEXT NOT NULL,
    shown_at BIGINT NOT NULL,
    PRIMARY KEY (patient_key, shown_at)
);
CREATE INDEX chart_opens_shown_at ON chart_opens (shown_at);
