"""A1 policy types of HAF as JSON Schema, with examples. Populated by the xApp issue."""
