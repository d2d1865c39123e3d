"""HubSpot CRM: companies (customers), deals (contracts), line items and products (the price list)."""
