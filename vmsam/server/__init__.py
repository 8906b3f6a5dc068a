"""What runs on the monitoring server: the result store, ingest, the availability engine,
reports, GOCDB downtimes and the dashboard API. Needs the ``server`` extra
(``pip install 'vmsam[server]'``)."""
