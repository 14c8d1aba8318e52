"""The operator's own endpoints: /healthz and /readyz, /metrics and who may read them, the API docs
page, the public signing keys."""
