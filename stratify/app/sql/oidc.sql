-- output: which identity-provider subject each signed-in-through-OpenID-Connect account belongs to
-- grain:  one row per (issuer, subject) the app has admitted; each names one row of `users` (made for it,
--         with no local password) and no other identity may take that user name
-- inputs: the validated ID tokens of /auth/callback (stratify.app.oidc); nothing from the warehouse
CREATE TABLE IF NOT EXISTS oidc_accounts (
    issuer      TEXT NOT NULL,
    subject     TEXT NOT NULL,
    user_name   TEXT NOT NULL UNIQUE REFERENCES users (user_name),
    first_seen  TEXT NOT NULL,
    last_seen   TEXT NOT NULL,
    PRIMARY KEY (issuer, subject)
);
