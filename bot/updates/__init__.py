"""The update path: both sources (long polling, webhook) feed one runner.

``inbox`` (updates kept on disk until handled), ``journal`` (what was handled), ``ordering``
(each chat's order), ``middleware`` (handlers wait for their turn), ``runner`` (in flight,
recorded when done), ``polling`` and ``webhook`` (the sources), ``connect`` (reaching the Bot
API with backoff).
"""
