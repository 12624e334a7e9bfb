-- Alert-fatigue controls and replicas (issue 16). Snoozes are not rows of their own: they are the
-- overridden step-therapy cards (feedback joined to cards), read with the override reasons'
-- snooze periods from the knowledge. A snooze lifted by the informatics team is listed here.
CREATE TABLE lifted (
    card_uuid TEXT PRIMARY KEY,
    lifted_at BIGINT NOT NULL
);

-- JWT ids seen, shared by the replicas (PostgreSQL): the key is a digest of issuer and jti.
CREATE TABLE replay (
    token_key TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE INDEX replay_expires_at ON replay (expires_at);

CREATE INDEX feedback_outcome_received_at ON feedback (outcome, received_at);
