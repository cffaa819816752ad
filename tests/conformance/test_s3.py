"""fsspec's conformance tests for s3fs itself and for tierfs over it, on the embedded SeaweedFS."""

import fsspec.tests.abstract as abstract

from tests.conformance.fixtures import S3fsOverSeaweed, TierfsOverSeaweed


class TestS3fsCopy(abstract.AbstractCopyTests, S3fsOverSeaweed):
    pass


class TestS3fsGet(abstract.AbstractGetTests, S3fsOverSeaweed):
    pass


class TestS3fsPut(abstract.AbstractPutTests, S3fsOverSeaweed):
    pass


class TestS3fsPipe(abstract.AbstractPipeTests, S3fsOverSeaweed):
    pass


class TestS3fsOpen(abstract.AbstractOpenTests, S3fsOverSeaweed):
    pass


class TestCopy(abstract.AbstractCopyTests, TierfsOverSeaweed):
    pass


class TestGet(abstract.AbstractGetTests, TierfsOverSeaweed):
    pass


class TestPut(abstract.AbstractPutTests, TierfsOverSeaweed):
    pass


class TestPipe(abstract.AbstractPipeTests, TierfsOverSeaweed):
    pass


class TestOpen(abstract.AbstractOpenTests, TierfsOverSeaweed):
    pass
