"""`meterway receipt verify RECEIPT`: check a call's signed receipt offline against the
gateway's published keys (`--keys`: a JWKS file or URL; default the gateway's
/.well-known/meterway-keys.json) and print what it states. Needs no token and no server
settings: a receipt is checked with public keys alone. Exit 0 verified, 1 not."""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.request
from pathlib import Path
from typing import Any

from gateway.cli.client import DEFAULT_API_URL, ERROR, OK, TIMEOUT_S
from gateway.services.proof.call_receipts import RECEIPT_TYP
from gateway.services.proof.signing_keys import UnverifiedReceipt, read_with_jwks

KEYS_PATH = "/.well-known/meterway-keys.json"


def add_parser(sub: Any) -> None:
    p = sub.add_parser("receipt", help="check a call's signed receipt offline")
    ops = p.add_subparsers(dest="receipt_command", required=True)
    v = ops.add_parser("verify", help="verify a receipt and print what it states")
    v.add_argument("receipt", help="the receipt (a JWS), or - to read it from standard input")
    v.add_argument(
        "--keys",
        help="a JWKS file or URL (default: the gateway's published keys at --api-url)",
    )
    v.add_argument(
        "--api-url", default=os.environ.get("METERWAY_API_URL", DEFAULT_API_URL), help="gateway URL"
    )


def _jwks(args: argparse.Namespace) -> dict[str, Any]:
    where = args.keys or args.api_url.rstrip("/") + KEYS_PATH
    if where.startswith(("http://", "https://")):
        with urllib.request.urlopen(where, timeout=TIMEOUT_S) as answer:
            return dict(json.load(answer))
    return dict(json.loads(Path(where).read_text()))


def main(args: argparse.Namespace) -> int:
    token = sys.stdin.read().strip() if args.receipt == "-" else args.receipt.strip()
    try:
        claims = read_with_jwks(_jwks(args), token, RECEIPT_TYP)
    except UnverifiedReceipt as exc:
        print(f"meterway: receipt NOT verified: {exc}", file=sys.stderr)
        return ERROR
    except (OSError, ValueError) as exc:
        print(f"meterway: cannot read the keys: {exc}", file=sys.stderr)
        return ERROR
    print(json.dumps(claims, indent=2, sort_keys=True))
    print("verified: signed by a published Meterway key", file=sys.stderr)
    return OK
