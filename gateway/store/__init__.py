"""Where tasks, responses, reviewer sessions and counters are kept.

``base`` holds the interface, ``backends.store_for`` picks the backend the config
names (``sqlite``, ``postgres``); this package module imports none of them.
"""
