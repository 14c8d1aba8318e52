"""Typed application state: every shared resource lives on the app under one of these keys."""

from __future__ import annotations

import aiohttp
import asyncpg
import redis.asyncio as aioredis
from aiohttp import web

from billing.plans import PlanBook
from billing.pricing import PricingTable
from billing.tokens import TokenCounter
from gateway.auth import KeyResolver
from gateway.hotstore import HotStore
from gateway.ledger import Ledger
from gateway.metering import Meter
from gateway.settings import Settings

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
