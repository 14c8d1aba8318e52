"""ClickHouse, the optional analytics store: spoken to over its HTTP interface only."""
