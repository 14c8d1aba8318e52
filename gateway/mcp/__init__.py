"""MCP's Streamable HTTP wire (JSON-RPC over POST, JSON or SSE answers) and the upstream call."""
