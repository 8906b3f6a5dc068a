"""The soak: a bounded run of simulated VMs publishing signed results through a real ActiveMQ
to two real consumers writing to PostgreSQL, with the broker, a consumer and the database
killed and restarted at random moments and 1 % hostile messages; at the end the store is
compared with the publishers' own record (README.md beside this file)."""
