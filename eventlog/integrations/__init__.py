"""Adapters that let other libraries keep their data in the log (each an optional extra)."""
