"""The request classifier: text → service (and team), with calibrated confidence and reasons."""
