//! Mailer adapters: .eml outbox files or SMTP via lettre.
