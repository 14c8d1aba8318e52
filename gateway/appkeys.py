"""Typed application state: every shared resource lives on the app under one of these keys."""

from __future__ import annotations

import aiohttp
import asyncpg
import redis.asyncio as aioredis
from aiohttp import web

from billing.plans import PlanBook
from billing.pricing import PricingTable
from billing.tokens import TokenCounter
from gateway.services.auth import KeyResolver
from gateway.services.metering import Meter
from gateway.settings import Settings
from gateway.stores.postgres.ledger import Ledger
from gateway.stores.redis.hotstore import HotStore

SETTINGS = web.AppKey("settings", Settings)
PRICING = web.AppKey("pricing", PricingTable)
PLANS = web.AppKey("plans", PlanBook)
COUNTER = web.AppKey("counter", TokenCounter)
REDIS = web.AppKey("redis", aioredis.Redis)
STORE = web.AppKey("store", HotStore)
KEYS = web.AppKey("keys", KeyResolver)
METER = web.AppKey("meter", Meter)
PG = web.AppKey("pg", asyncpg.Pool)
LEDGER = web.AppKey("ledger", Ledger)
SESSION = web.AppKey("session", aiohttp.ClientSession)
