"""aiogram middlewares: access control, per-chat ordering, update logging, API retries."""
