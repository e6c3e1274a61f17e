"""Trigger discovery: which actions separate converters, and a short rule-based PQL
judged on later signups (`pql triggers`)."""
