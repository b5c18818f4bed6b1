"""Workload: the Azure trace loader, the synthetic generator, and the request stream."""
