"""What the tests and benchmarks share and the package does not ship: the development
ActiveMQ launcher."""
