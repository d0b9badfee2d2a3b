"""Structural rewrites, one module per idiom; each registers itself with `register_rewrite`."""
