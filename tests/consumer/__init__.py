"""``vmsam consume`` as a real process; the helpers are in tests.support.consumer."""
