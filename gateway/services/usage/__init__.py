"""Usage: where reports read (ClickHouse or PostgreSQL) and how fresh, FOCUS exports (focus/)."""
