"""VIES_URL: a customer's EU VAT number, valid by its check digit, is also asked of VIES
(a local server speaking its REST format, reached through the egress-checked client) when
it is set; one VIES does not list is refused naming `tax_id`, and VIES not answering sets
nothing (503). Without VIES_URL nothing is asked (tests/e2e/test_invoices.py)."""

from __future__ import annotations

from tests.support.factories import tenant
from tests.support.fakes.vies import vies_server
from tests.support.harness import LOCAL_SINKS, running_gateway

LISTED, UNLISTED = "FR40303265045", "DE136695976"


async def test_a_vat_number_vies_does_not_list_is_refused(dsn: str) -> None:
    async with (
        vies_server() as vies,
        running_gateway(dsn, None, VIES_URL=vies.url, **LOCAL_SINKS) as gw,
    ):
        vies.registered.add(LISTED)
        t = await tenant(gw, plan="enterprise", credit=0)
        path = f"/admin/v1/accounts/{t.account_id}/invoicing"
        status, body = await gw.admin("PUT", path, {"country": "FR", "tax_id": "40303265045"})
        assert status == 200 and body["tax_id"] == LISTED, body
        assert vies.asked == [{"countryCode": "FR", "vatNumber": "40303265045"}]
        status, body = await gw.admin("PUT", path, {"country": "DE", "tax_id": UNLISTED})
        assert status == 400 and body["error"]["param"] == "tax_id", body
        assert "VIES does not list DE136695976" in body["error"]["message"]
        vies.status = 500
        status, body = await gw.admin("PUT", path, {"country": "DE", "tax_id": UNLISTED})
        assert status == 503, body
        status, body = await gw.admin("GET", path)
        assert (body["country"], body["tax_id"]) == ("FR", LISTED)  # nothing was set
        status, body = await gw.admin("PUT", path, {"legal_name": "Exemple SAS"})
        assert status == 200 and len(vies.asked) == 3  # a change leaving the id asks nothing
