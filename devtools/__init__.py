"""Tooling that starts processes in development, tests and benches: a Redis for a command (`redis_server`), the
production topology on loopback (`topology`), live daphne servers, throwaway Redis servers and the clients that
talk to them.

Not part of the product: no app, `infra/` or the wiring imports it (tests/test_import_rules.py). The daphne that
production runs starts through `convonet_site.serve`, which stays in the product.
"""
