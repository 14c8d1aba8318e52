"""`/mcp/{server}`: MCP tool calls through Meterway, each one metered."""
