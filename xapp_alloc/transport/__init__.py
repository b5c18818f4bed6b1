"""Thin transports around the xApp core (RMR, file replay; gRPC and HTTP come next)."""
