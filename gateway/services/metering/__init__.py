"""The call shapes held and settled beside a plain call: batches, background responses, Realtime
sessions and MCP tool calls."""
