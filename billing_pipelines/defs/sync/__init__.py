"""Jobs, the contemporary-sync schedule and the landing-zone sensor."""
