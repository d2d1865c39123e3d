"""Sandbox company: a fictional B2B SaaS business (app database + landing files) to run the pipelines against."""
