-- The card and outcome store (issue 15). One schema for SQLite and PostgreSQL: only types and
-- statements both engines read alike (TEXT, BIGINT; times are Unix milliseconds, UTC).
-- Patient, encounter and order keys are HMAC-SHA256 of the ids under the site's secret: the
-- store never holds an id, a name or other PHI.

-- Every card computed for a call (shown, or suppressed by a snooze: `suppressed` = 1).
CREATE TABLE cards (
    uuid TEXT PRIMARY KEY,
    issued_at BIGINT NOT NULL,
    service TEXT NOT NULL,
    hook TEXT NOT NULL,
    hook_instance TEXT NOT NULL,
    kind TEXT NOT NULL,
    indicator TEXT NOT NULL,
    -- The class statuses the card shows, `class=status` joined by `,` in the knowledge's order.
    classes TEXT NOT NULL,
    knowledge_version TEXT NOT NULL,
    patient_key TEXT NOT NULL,
    encounter_key TEXT,
    order_key TEXT NOT NULL,
    suppressed BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX cards_issued_at ON cards (issued_at);
CREATE INDEX cards_patient_key ON cards (patient_key);

-- The suggestions of each card, so that an accepted suggestion names its agent.
CREATE TABLE suggestions (
    uuid TEXT PRIMARY KEY,
    card_uuid TEXT NOT NULL,
    issued_at BIGINT NOT NULL,
    class TEXT NOT NULL,
    agent TEXT NOT NULL
);
CREATE INDEX suggestions_card ON suggestions (card_uuid);

-- Every call that examined a ketamine order, with or without cards: the firing rates'
-- denominator. `outcome` is not-applicable, backed or warned.
CREATE TABLE examined (
    id TEXT PRIMARY KEY,
    at BIGINT NOT NULL,
    service TEXT NOT NULL,
    hook TEXT NOT NULL,
    outcome TEXT NOT NULL,
    orders BIGINT NOT NULL,
    knowledge_version TEXT NOT NULL
);
CREATE INDEX examined_at ON examined (at);

-- Every feedback item, whether or not its card is known yet (joined when it is). The id is a
-- digest of the item, so an EHR's retry of the same feedback is kept once.
CREATE TABLE feedback (
    id TEXT PRIMARY KEY,
    card_uuid TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    service TEXT NOT NULL,
    outcome TEXT NOT NULL,
    reason_system TEXT,
    reason_code TEXT,
    outcome_at BIGINT,
    -- Only when the site keeps free-text comments (store.keep_comments).
    comment TEXT
);
CREATE INDEX feedback_card ON feedback (card_uuid);
CREATE INDEX feedback_received_at ON feedback (received_at);

-- The suggestions an accepted feedback item names.
CREATE TABLE accepted (
    feedback_id TEXT NOT NULL,
    suggestion_uuid TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    PRIMARY KEY (feedback_id, suggestion_uuid)
);
