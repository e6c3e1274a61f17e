"""Monitoring: drift of recorded scoring runs against training, realised conversion
and calibration of matured runs, and whether to retrain (`pql monitor`)."""
