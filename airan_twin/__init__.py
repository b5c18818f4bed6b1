"""The AI-RAN digital twin: a discrete-event simulator of the paper's edge cluster (§IV)."""
