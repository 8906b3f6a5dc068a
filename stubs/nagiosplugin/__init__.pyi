"""Type stubs for nagiosplugin 1.3/1.4 (the package ships none)."""

from . import state as state
from .check import Check as Check
from .context import Context as Context
from .context import ScalarContext as ScalarContext
from .cookie import Cookie as Cookie
from .error import CheckError as CheckError
from .error import Timeout as Timeout
from .logtail import LogTail as LogTail
from .metric import Metric as Metric
from .multiarg import MultiArg as MultiArg
from .performance import Performance as Performance
from .range import Range as Range
from .resource import Resource as Resource
from .result import Result as Result
from .result import Results as Results
from .runtime import Runtime as Runtime
from .runtime import guarded as guarded
from .state import Critical as Critical
from .state import Ok as Ok
from .state import Unknown as Unknown
from .state import Warn as Warn
from .summary import Summary as Summary

__version__: str
