"""The columns of a FOCUS 1.2 row as Meterway writes them (billing/usage/focus.py builds the rows):
FOCUS's own, then Meterway's `x_` ones, and which of them hold amounts, decimals and times."""

from __future__ import annotations

FOCUS_VERSION = "1.2"
CURRENCY = "USD"
# The columns a row has, in order: FOCUS 1.2's mandatory ones, those of the features a
# gateway has (usage measurement, public unit prices, tags, account names), then Meterway's
# own, prefixed `x_` as FOCUS asks of custom columns.
FOCUS_COLUMNS = (
    "BilledCost",
    "BillingAccountId",
    "BillingAccountName",
    "BillingCurrency",
    "BillingPeriodEnd",
    "BillingPeriodStart",
    "ChargeCategory",
    "ChargeClass",
    "ChargeDescription",
    "ChargeFrequency",
    "ChargePeriodEnd",
    "ChargePeriodStart",
    "CommitmentDiscountStatus",
    "ConsumedQuantity",
    "ConsumedUnit",
    "ContractedCost",
    "EffectiveCost",
    "InvoiceId",
    "InvoiceIssuerName",
    "ListCost",
    "ListUnitPrice",
    "PricingCurrency",
    "PricingCurrencyContractedUnitPrice",
    "PricingCurrencyEffectiveCost",
    "PricingCurrencyListUnitPrice",
    "PricingQuantity",
    "PricingUnit",
    "ProviderName",
    "PublisherName",
    "ServiceCategory",
    "ServiceName",
    "ServiceSubcategory",
    "SkuId",
    "SkuMeter",
    "SkuPriceDetails",
    "SkuPriceId",
    "Tags",
)
X_COLUMNS = (
    "x_LedgerEntryId",
    "x_LedgerKind",
    "x_RequestId",
    "x_Model",
    "x_PriceVersion",
    "x_GrantKind",
    "x_KeyId",
    "x_KeyName",
    "x_TeamId",
    "x_TeamName",
    "x_EndUser",
    "x_ProviderCost",
)
COLUMNS = FOCUS_COLUMNS + X_COLUMNS
# The columns that hold amounts of USD (exact decimals) and quantities (decimals).
COST_COLUMNS = (
    "BilledCost",
    "ContractedCost",
    "EffectiveCost",
    "ListCost",
    "PricingCurrencyEffectiveCost",
    "x_ProviderCost",
)
DECIMAL_COLUMNS = (
    *COST_COLUMNS,
    "ConsumedQuantity",
    "ListUnitPrice",
    "PricingCurrencyContractedUnitPrice",
    "PricingCurrencyListUnitPrice",
    "PricingQuantity",
)
DATE_COLUMNS = ("BillingPeriodEnd", "BillingPeriodStart", "ChargePeriodEnd", "ChargePeriodStart")
UNIT_PRICE_PLACES = 18
