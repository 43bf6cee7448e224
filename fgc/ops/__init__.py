"""Keras 3 ops (public namespace)."""
