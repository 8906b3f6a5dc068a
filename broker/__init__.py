"""The broker consumer service: STOMP subscription, validation, storage, dead letters."""
