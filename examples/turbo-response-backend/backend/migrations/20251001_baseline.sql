-- turbo-response-backend: the cases table the admin pages read (exists before usage tracking).

CREATE TABLE IF NOT EXISTS cases (
    id SERIAL PRIMARY KEY,
    client_name VARCHAR(200) NOT NULL,
    client_email VARCHAR(255),
    case_type VARCHAR(50) NOT NULL,
    status VARCHAR(30) NOT NULL DEFAULT 'open',
    description TEXT,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS idx_cases_status ON cases(status);
