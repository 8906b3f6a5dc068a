"""vmsam: SAM worker-node tests run inside the pilot VMs of VM-only WLCG sites."""

__version__ = "0.1.0"
