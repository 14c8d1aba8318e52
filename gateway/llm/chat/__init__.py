"""The chat wire as the translations to other wires read it: tool calling and a request's turns."""
