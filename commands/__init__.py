"""The write side and the CLI: command handlers that validate and append, and `lokilog ...`."""
