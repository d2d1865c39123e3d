"""The billing team's Google Sheet (customers, contracts, contract items, usage) as a source."""
