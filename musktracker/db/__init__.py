"""Storage: typed SQLAlchemy models, sessions, dialect differences and migrations."""
