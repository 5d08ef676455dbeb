"""Control-plane calls signed with botocore's SigV4 signer, sent through the async HTTP client.

boto3 is blocking: every call needs a worker thread, and most of its cost is not the network
but the machinery around one request (event hooks, validation, urllib3, thread hand-offs under
the GIL). A run makes thousands of them (DescribePackageVersion, ListPackageVersionAssets,
PutPackageOriginConfiguration, ...). `SignedCalls` keeps botocore for what it is good at,
the service model, the rest-json serializer, the SigV4 signer and the response parser (so the
requests and the answers are exactly boto3's, errors included), and sends the signed request
on the event loop through httpx, without a thread.

Answers come back as boto3 would return them; an error answer is raised as botocore's own
`ClientError`, so `CodeArtifactClient._translate` sees what it sees for boto3 calls. Transport
failures are raised as `httpx.TransportError` for the caller to translate.

Operations with a streamed body (PublishPackageVersion's asset, GetPackageVersionAsset's
answer) stay on boto3.
"""

from __future__ import annotations

from typing import Any

import botocore.exceptions
import httpx
from botocore.auth import SigV4Auth
from botocore.awsrequest import create_request_object, prepare_request_dict
from botocore.parsers import create_parser
from botocore.serialize import create_serializer

__all__ = ["STREAMING_OPERATIONS", "SignedCalls"]

STREAMING_OPERATIONS = frozenset({"PublishPackageVersion", "GetPackageVersionAsset"})


class SignedCalls:
    """boto3's requests for one botocore client, sent by an `httpx.AsyncClient`."""

    def __init__(self, boto_client: Any, credentials: Any, http: httpx.AsyncClient) -> None:
        meta = boto_client.meta
        self.model = meta.service_model
        self.endpoint_url = meta.endpoint_url
        self.region = meta.region_name
        self.signing_name = self.model.signing_name or "codeartifact"
        self.credentials = credentials
        self.http = http
        protocol = self.model.metadata.get("protocol", "rest-json")
        self.serializer = create_serializer(protocol, include_validation=True)
        self.parser = create_parser(protocol)
        self.user_agent = str(getattr(meta.config, "user_agent", "") or "migrator")
        self._operations: dict[str, Any] = {}

    @classmethod
    def for_client(cls, boto_client: Any, session: Any, http: httpx.AsyncClient
                   ) -> SignedCalls | None:
        """None when `boto_client` is not a real botocore client (a test's fake)."""
        meta = getattr(boto_client, "meta", None)
        if session is None or meta is None or not hasattr(meta, "service_model"):
            return None
        try:
            credentials = session.get_credentials()
        except botocore.exceptions.BotoCoreError:
            return None
        if credentials is None:
            return None  # let boto3 raise its own NoCredentialsError
        return cls(boto_client, credentials, http)

    def handles(self, operation: str) -> bool:
        return operation not in STREAMING_OPERATIONS

    def _operation(self, name: str) -> Any:
        if name not in self._operations:
            self._operations[name] = self.model.operation_model(name)
        return self._operations[name]

    async def call(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        """One attempt of `operation`; its parsed answer.

        :raises botocore.exceptions.ClientError: the service answered with an error.
        :raises botocore.exceptions.ParamValidationError: `params` do not fit the model.
        :raises httpx.TransportError: the request did not get an answer.
        """
        model = self._operation(operation)
        request = self.serializer.serialize_to_request(params, model)
        prepare_request_dict(request, endpoint_url=self.endpoint_url,
                             user_agent=self.user_agent)
        aws = create_request_object(request)
        # Frozen per request: refreshable credentials (SSO, assumed roles) renew themselves.
        SigV4Auth(self.credentials.get_frozen_credentials(), self.signing_name,
                  self.region).add_auth(aws)
        prepared = aws.prepare()
        response = await self.http.request(prepared.method, prepared.url,
                                           headers=dict(prepared.headers.items()),
                                           content=prepared.body or b"")
        answer = {"status_code": response.status_code,
                  "headers": botocore.awsrequest.HeadersDict(response.headers.items()),
                  "body": response.content}
        parsed = self.parser.parse(answer, model.output_shape)
        if response.status_code >= 300:
            raise botocore.exceptions.ClientError(parsed, operation)
        parsed.pop("ResponseMetadata", None)
        return parsed
