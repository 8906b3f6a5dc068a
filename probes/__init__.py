"""Worker-node probes, each a standalone Nagios plugin built on nagiosplugin."""
