"""Test support: a real Prometheus server on loopback, scripted HTTP servers, known data."""
