"""Kommo Analytics: business intelligence for the Kommo CRM."""

__version__ = "0.1.0"
