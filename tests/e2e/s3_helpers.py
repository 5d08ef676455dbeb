"""moto's S3 server on loopback (real HTTP, real conditional writes) and a fresh bucket per
test, for the end-to-end tests of states on S3."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

from .transfer_helpers import rows  # noqa: F401 (the tests import it from here)

KEY = "migrator/demo.sqlite"


# A test module takes the fixtures `s3_endpoint` and `s3` by importing these two functions.
@pytest.fixture(name="s3_endpoint", scope="module")
def _s3_endpoint():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(name="s3")
def _s3(s3_endpoint):
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    bucket = f"state-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket)
    return client, bucket, s3_endpoint


def lease(client, bucket: str, key: str = KEY) -> dict | None:
    """The lock object's body (who holds the state), or None."""
    try:
        return json.loads(client.get_object(Bucket=bucket, Key=key + ".lock")["Body"].read())
    except client.exceptions.NoSuchKey:
        return None


def saved_state(client, bucket: str, tmp_path: Path, name: str, key: str = KEY) -> Path:
    """A download of the state saved at `key`."""
    path = tmp_path / f"{name}.sqlite"
    client.download_file(bucket, key, str(path))
    return path
