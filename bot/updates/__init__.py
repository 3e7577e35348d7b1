"""The update path: both sources (long polling, webhook) feed one runner.

``journal`` (what was handled), ``ordering`` (each chat's order), ``middleware`` (handlers
wait for their turn), ``runner`` (in flight, what may be confirmed), ``polling`` and
``webhook`` (the sources), ``connect`` (reaching the Bot API with backoff).
"""
