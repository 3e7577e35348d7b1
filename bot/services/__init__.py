"""Services the handlers call: ingestion, the notifier and delivery (the update path is
``bot.updates``)."""
