"""Checking a recorded request's SigV4 signature with botocore's own signer, as AWS does:
the canonical request is rebuilt from what arrived (method, path as sent, the headers the
signature names, the body's bytes) at the request's own `x-amz-date`, and signed again."""

from __future__ import annotations

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from gateway.devtools.demo_upstream import RecordedRequest


def signed_names(authorization: str) -> list[str]:
    fields = dict(part.strip().split("=", 1) for part in authorization.split(" ", 1)[1].split(","))
    return fields["SignedHeaders"].split(";")


def signature_of(rec: RecordedRequest, creds: Credentials, region: str, service: str) -> str:
    names = signed_names(rec.headers["authorization"])
    headers = {name: rec.headers[name] for name in names if name != "host"}
    url = f"http://{rec.headers['host']}{rec.raw_path}"
    request = AWSRequest(method=rec.method, url=url, data=rec.raw, headers=headers)
    request.context["timestamp"] = rec.headers["x-amz-date"]
    signer = SigV4Auth(creds, service, region)
    canonical = signer.canonical_request(request)
    return str(signer.signature(signer.string_to_sign(request, canonical), request))


def verifies(rec: RecordedRequest, creds: Credentials, region: str, service: str) -> bool:
    expected = signature_of(rec, creds, region, service)
    return rec.headers["authorization"].endswith(f"Signature={expected}")
