-- The files a job produced, as stored in the media bucket under
-- {videos|images|audio}/{userId}/{YYYY}/{MM}/{DD}/{jobId}/.
CREATE TABLE media_outputs (
    job_id       uuid NOT NULL REFERENCES jobs (job_id) ON DELETE CASCADE,
    position     integer NOT NULL CHECK (position >= 0),
    s3_key       text NOT NULL UNIQUE,
    content_type text NOT NULL,
    size_bytes   bigint NOT NULL CHECK (size_bytes >= 0),
    sha256       text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (job_id, position)
);
