"""Broker side: the STOMP consumer service and the broker configuration for tests."""
