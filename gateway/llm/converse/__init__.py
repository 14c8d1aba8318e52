"""Bedrock Converse's wire: its chat answers and the translation from the chat wire."""
