"""Gemini's wire: reading its calls, its chat stream, and translating to and from the chat
wire."""
