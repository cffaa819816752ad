"""fsspec's conformance tests for tierfs over ``file://``, in both write modes."""

import fsspec.tests.abstract as abstract

from tests.conformance.fixtures import TierfsOverLocal


class TestCopy(abstract.AbstractCopyTests, TierfsOverLocal):
    pass


class TestGet(abstract.AbstractGetTests, TierfsOverLocal):
    pass


class TestPut(abstract.AbstractPutTests, TierfsOverLocal):
    pass


class TestPipe(abstract.AbstractPipeTests, TierfsOverLocal):
    pass


class TestOpen(abstract.AbstractOpenTests, TierfsOverLocal):
    pass
