"""Services the handlers call: ingestion, delivery, ordering, reliable polling."""
