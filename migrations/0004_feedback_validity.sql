-- Feedback that must be right to count (issue 30). The override reasons a card offered
-- (`system|code`, one per line; NULL for cards kept before this column), so that feedback can
-- be checked against the card it names; and why a feedback item does not count (NULL: it
-- counts). An item naming a known card is checked when it arrives (and refused with a 400 when
-- wrong); one whose card arrives later is checked then, and marked here when wrong.
ALTER TABLE cards ADD COLUMN override_reasons TEXT;
ALTER TABLE feedback ADD COLUMN invalid TEXT;
