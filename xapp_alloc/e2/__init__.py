"""E2 codecs (E2AP, E2SM-KPM subset, E2SM-HAF) of the xApp."""
