-- turbo-response-backend: AI usage tracking (seed 001, backend/migrations/add_usage_tracking.sql).
-- Without ai_usage_logs the backend crashes at start-up: relation "ai_usage_logs" does not exist.

CREATE TABLE IF NOT EXISTS ai_usage_logs (
    id SERIAL PRIMARY KEY,
    case_id INTEGER REFERENCES cases(id) ON DELETE SET NULL,
    analysis_type VARCHAR(50) NOT NULL,   -- comprehensive, letter_generation
    tokens_used INTEGER NOT NULL DEFAULT 0,
    estimated_cost NUMERIC(10, 4) NOT NULL DEFAULT 0,  -- USD
    model_used VARCHAR(50) NOT NULL DEFAULT 'gpt-4',
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS idx_ai_usage_logs_case_id ON ai_usage_logs(case_id);
CREATE INDEX IF NOT EXISTS idx_ai_usage_logs_created_at ON ai_usage_logs(created_at);

CREATE TABLE IF NOT EXISTS admin_settings (
    id SERIAL PRIMARY KEY,
    setting_key VARCHAR(100) NOT NULL UNIQUE,
    setting_value TEXT,   -- NULL means "no limit" for caps
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now()
);

-- Keep updated_at honest when an admin changes a cap; the body holds semicolons on purpose.
CREATE OR REPLACE FUNCTION admin_settings_touch() RETURNS trigger AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'trg_admin_settings_touch') THEN
        CREATE TRIGGER trg_admin_settings_touch BEFORE UPDATE ON admin_settings
            FOR EACH ROW EXECUTE FUNCTION admin_settings_touch();
    END IF;
END;
$$;

INSERT INTO admin_settings (setting_key, setting_value) VALUES
    ('cap_warning_threshold', '0.8'),
    ('monthly_spending_cap', NULL)
ON CONFLICT (setting_key) DO NOTHING;
