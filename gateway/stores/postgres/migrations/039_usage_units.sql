-- Units beyond tokens in usage reports (issue 34): images made (DALL-E, priced per image),
-- seconds of audio (whisper-1) and characters read aloud (tts-1), summed per day from the
-- debits' usage_detail as the settler writes them. Earlier days read 0.
ALTER TABLE usage_rollups ADD COLUMN images bigint NOT NULL DEFAULT 0;
ALTER TABLE usage_rollups ADD COLUMN audio_seconds bigint NOT NULL DEFAULT 0;
ALTER TABLE usage_rollups ADD COLUMN characters bigint NOT NULL DEFAULT 0;
