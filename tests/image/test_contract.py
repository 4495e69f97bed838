"""The data-upload contract's curl and Python examples, run as written against the image's API."""

from tests.integration.test_contract_examples import test_curl_upload_examples, test_python_examples

__all__ = ["test_curl_upload_examples", "test_python_examples"]
