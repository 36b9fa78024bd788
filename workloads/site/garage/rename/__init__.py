"""Migrations of the garage app for the schema stages expand and contract (défi 20, schema_stage.py)."""
