"""The Machine/Job Features options every probe that reads MJF takes, and the lookup they ask.

The init hook (vmsam.vm.hook.probe_specs) passes these names, so they are declared once here.
One rule for a location in every probe: an absolute directory path or an http(s) URL. A
relative path is a usage error (UNKNOWN) rather than resolved: what it named would depend
on the directory the plugin happens to be started in.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping

from vmsam.vm.mjf import DISCOVERY_TIMEOUT, Features, discover

DEFAULT_ETC_DIR = "/etc"
DEFAULT_VAC_URL = "http://169.254.169.253"
DEFAULT_OPENSTACK_URL = "http://169.254.169.254"


def location(text: str) -> str:
    """A directory path or an http(s) URL; empty means not given (Vac's user_data style)."""
    if text and not text.startswith(("/", "http://", "https://")):
        raise argparse.ArgumentTypeError(f"not an absolute directory path or http(s) URL: {text!r}")
    return text


def add_mjf_arguments(parser: argparse.ArgumentParser, *, etc_dir: bool = False) -> None:
    """Add --machinefeatures, --jobfeatures, --no-discovery, --vac-url, --openstack-url and,
    with ``etc_dir``, --etc-dir."""
    parser.add_argument(
        "--machinefeatures",
        type=location,
        metavar="DIR|URL",
        help="machinefeatures location (default: $MACHINEFEATURES, then discovery)",
    )
    parser.add_argument(
        "--jobfeatures",
        type=location,
        metavar="DIR|URL",
        help="jobfeatures location (default: $JOBFEATURES, then discovery)",
    )
    if etc_dir:
        parser.add_argument(
            "--etc-dir",
            default=DEFAULT_ETC_DIR,
            metavar="DIR",
            help="where machinefeatures/ and jobfeatures/ may be (default %(default)s)",
        )
    else:
        parser.set_defaults(etc_dir=DEFAULT_ETC_DIR)
    parser.add_argument(
        "--no-discovery",
        dest="discovery",
        action="store_false",
        help="do not ask Vac's metadata server or the OpenStack metadata for MJF",
    )
    parser.add_argument(
        "--vac-url",
        default=DEFAULT_VAC_URL,
        metavar="URL",
        help="Vac's metadata server (default %(default)s)",
    )
    parser.add_argument(
        "--openstack-url",
        default=DEFAULT_OPENSTACK_URL,
        metavar="URL",
        help="the OpenStack metadata server (default %(default)s)",
    )


def discover_features(
    args: argparse.Namespace,
    timeout: float,
    *,
    environ: Mapping[str, str] | None = None,
    discovery_timeout: float = DISCOVERY_TIMEOUT,
) -> Features:
    """vmsam.vm.mjf.discover with the locations the options of add_mjf_arguments gave."""
    return discover(
        args.machinefeatures,
        args.jobfeatures,
        environ=environ,
        etc_dir=args.etc_dir,
        discovery=args.discovery,
        vac_url=args.vac_url,
        openstack_url=args.openstack_url,
        timeout=timeout,
        discovery_timeout=discovery_timeout,
    )
