-- Generation jobs (seed 004): one row per accepted request, the permanent
-- record. generate-media inserts it, the webhook processor and the
-- stuck-job checker move it on, get-status reads it last.
CREATE TABLE jobs (
    job_id        uuid PRIMARY KEY,
    user_id       text NOT NULL,
    media_type    text NOT NULL CHECK (media_type IN ('image', 'video', 'audio')),
    model         text NOT NULL,
    model_version text NOT NULL,
    input         jsonb NOT NULL,
    status        text NOT NULL DEFAULT 'pending'
                  CHECK (status IN ('pending', 'processing', 'succeeded', 'failed', 'canceled')),
    prediction_id text UNIQUE,
    error         text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    completed_at  timestamptz
);

-- A user's jobs, newest first.
CREATE INDEX jobs_by_user ON jobs (user_id, created_at DESC);

-- The stuck-job checker's scan: unfinished jobs by when they last moved.
CREATE INDEX jobs_unfinished ON jobs (updated_at) WHERE status IN ('pending', 'processing');
