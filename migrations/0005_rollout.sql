-- Rollout (issue 27). The arm of each call and card: `live` (shown) or `silent` (computed and
-- recorded as what would have been shown; the EHR got no card). Rows kept before are live.
-- Reports read the arms apart: live figures as before, silent ones beside them.
ALTER TABLE cards ADD COLUMN arm TEXT NOT NULL DEFAULT 'live';
ALTER TABLE examined ADD COLUMN arm TEXT NOT NULL DEFAULT 'live';
