"""Partner sync: the change log and its feed, history, batches, idempotency, export/import."""
