"""What the tests and benchmarks share and the package does not ship: the development
ActiveMQ launcher, free ports, PostgreSQL databases of their own, a queue subscriber with
markers, and the helpers of the consumer and API tests."""
