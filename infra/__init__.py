"""The ground floor: the Redis layer, the in-process fallback, env readers, the health registry, the admin-page base.

Every app imports from here and nothing here imports an app or the wiring (`convonet_site`, `convonet`):
`tests/test_import_rules.py` reads the imports and enforces it.
"""
