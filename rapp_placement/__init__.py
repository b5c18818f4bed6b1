"""Non-RT RIC rApp: the placement layer of HAF (paper §III-A/B). Built by later issues."""
