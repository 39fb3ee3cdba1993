"""Shared pieces of the pages: empty states, error guard, persistent filters, charts."""
