"""Analyst views across collections: text search, the landscape table, statistics."""
