"""Helpers for tests and benchmarks that need real services (as `optuna.testing` is for Optuna's)."""
