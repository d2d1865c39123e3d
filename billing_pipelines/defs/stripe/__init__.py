"""Stripe sources (`kind: stripe` in billing.yaml): customers, catalogue and subscriptions, synced through the events feed."""
