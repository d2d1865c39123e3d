"""The push API: usage events, customers, contracts and CSV uploads over HTTP, into the landing zone."""
