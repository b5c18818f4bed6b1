"""A1 without a RIC: the mediator-side policy store and the A1-P v2 REST adapter."""
