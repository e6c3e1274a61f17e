"""Scoring: the trained-model bundle, scores, reasons, batch scoring and the HTTP service.

Serving needs lightgbm, numpy, pandas and the web stack; it never imports `training`.
"""
