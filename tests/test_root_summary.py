"""The end of every run says how many tests were skipped for lack of root."""

from __future__ import annotations

import pytest

from tests.conftest import ROOT_REASON

pytest_plugins = ["pytester"]

# the inner run takes the hook from the suite's conftest
CONFTEST = "from tests.conftest import pytest_terminal_summary  # noqa: F401\n"


def test_the_root_skips_are_counted_and_other_skips_are_not(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(
        f"""
        import pytest

        as_non_root = pytest.mark.skipif(True, reason="{ROOT_REASON} to mount filesystems")

        @as_non_root
        def test_mounts():
            pass

        @as_non_root
        @pytest.mark.parametrize("n", [1, 2])
        def test_mounts_twice(n):
            pass

        def test_mounts_at_run_time():
            pytest.skip("{ROOT_REASON} and unshare to cut the network off")

        @pytest.mark.skip(reason="needs unshare (and root) to cut the network off")
        def test_without_unshare():
            pass

        def test_runs():
            pass
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, skipped=5)
    result.stdout.fnmatch_lines(["skipped for lack of root: 4"])


def test_a_run_without_root_skips_says_0(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(
        """
        import pytest

        def test_runs():
            pass

        @pytest.mark.skip(reason="not today")
        def test_skipped():
            pass
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider", "-q")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["skipped for lack of root: 0"])
