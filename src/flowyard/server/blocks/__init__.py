"""Blocks on the server: built-in types, encryption at rest, documents, validation."""
