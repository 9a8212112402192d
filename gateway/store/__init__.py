"""Where tasks, responses, reviewer sessions and counters are kept.

The interface is ``gateway.human.store.Store``; ``backends.store_for`` picks the
backend the config names (``sqlite``, ``postgres``); this package module imports
none of them.
"""
