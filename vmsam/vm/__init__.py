"""What runs inside a pilot VM: context discovery, the MJF client, sampling, the probe
runner, the durable spool, the STOMP publisher, joboutputs and the init hook. Imports only
``vmsam.shared`` and the standard library at start-up, never the server side; its
dependencies are the plain install's (no extras)."""
