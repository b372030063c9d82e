"""The `kommo-analytics` command line (Typer + Rich)."""
