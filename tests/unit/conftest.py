import asyncio

import pytest


@pytest.fixture
def run():
    """Run a coroutine to completion (unit tests need no servers and no plugin)."""
    return asyncio.run
