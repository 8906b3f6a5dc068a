"""The dashboard API through a real ``vmsam serve``; the helpers are in tests.support.api."""
