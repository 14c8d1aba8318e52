"""The OpenAPI document, assembled from each surface's paths."""
